package embedded

import (
	"fmt"
	"os"
	"path/filepath"
)

// syncDir fsyncs a directory, making the creations, renames and removals of its entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("embedded log: sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("embedded log: sync directory %s: %w", dir, err)
	}
	return nil
}

// writeFileAtomic replaces path with data: it writes path+".tmp", fsyncs it, renames it over path
// and fsyncs the directory. A crash leaves either the old file or the new one (and maybe a .tmp
// file, which Open removes).
func writeFileAtomic(path string, data []byte) error {
	if err := writeFileSynced(path+tmpSuffix, data); err != nil {
		return err
	}
	if err := os.Rename(path+tmpSuffix, path); err != nil {
		return fmt.Errorf("embedded log: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// writeFileSynced creates (or truncates) path, writes data and fsyncs it.
func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("embedded log: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("embedded log: write %s: %w", path, err)
	}
	return nil
}
