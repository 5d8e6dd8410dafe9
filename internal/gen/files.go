package gen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Format is an output file format.
type Format string

// The file formats Write and WriteDir produce.
const (
	FormatParquet Format = "parquet"
	FormatNDJSON  Format = "ndjson"
	FormatCSV     Format = "csv"
)

// Formats lists the supported formats.
var Formats = []Format{FormatParquet, FormatNDJSON, FormatCSV}

// ParseFormat accepts a format name (also "json" and "jsonl" for NDJSON).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "parquet":
		return FormatParquet, nil
	case "ndjson", "jsonl", "json":
		return FormatNDJSON, nil
	case "csv":
		return FormatCSV, nil
	}
	return "", fmt.Errorf("%w: unknown format %q (want parquet, ndjson or csv)", ErrInvalidConfig, s)
}

// FormatOfPath returns the format a file name's extension names (.parquet, .ndjson, .jsonl,
// .json, .csv); ok is false for other names.
func FormatOfPath(path string) (Format, bool) {
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if ext == "" {
		return "", false
	}
	f, err := ParseFormat(ext)
	return f, err == nil
}

// Extension is the file name extension of the format, with the dot.
func (f Format) Extension() string {
	if f == FormatNDJSON {
		return ".ndjson"
	}
	return "." + string(f)
}

// parquetRowGroupRows bounds the row groups of Parquet output.
const parquetRowGroupRows = 1 << 20

// progressEvery is how many events pass between two progress callbacks.
const progressEvery = 16 * 1024

// Write writes the next rows events of g to w in format. Parquet output is one file with zstd
// compression and row groups of at most a million rows; text output is one line per event (CSV
// with a header line). progress, if set, is called with the number of events written since its
// previous call. The same generator state and arguments always produce the same bytes. Write does
// not close w. A cancelled ctx stops the write with ctx's error (w then holds part of the output).
func Write(ctx context.Context, w io.Writer, format Format, g *Generator, rows int64, progress func(int64)) error {
	if progress == nil {
		progress = func(int64) {}
	}
	switch format {
	case FormatParquet:
		return writeParquet(ctx, w, g, rows, progress)
	case FormatNDJSON, FormatCSV:
		bw := bufio.NewWriterSize(w, 1<<20)
		var buf []byte
		if format == FormatCSV {
			buf = append(buf, CSVHeader()...)
			buf = append(buf, '\n')
		}
		for i := int64(0); i < rows; i++ {
			ev := g.Next()
			if format == FormatCSV {
				buf = AppendCSV(buf, &ev)
			} else {
				buf = AppendJSON(buf, &ev)
			}
			if (i+1)%progressEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				if _, err := bw.Write(buf); err != nil {
					return fmt.Errorf("gen: write: %w", err)
				}
				buf = buf[:0]
				progress(progressEvery)
			}
		}
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("gen: write: %w", err)
		}
		progress(rows % progressEvery)
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("gen: write: %w", err)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown format %q", ErrInvalidConfig, format)
}

// writerOnly hides every method of a writer but Write: pqarrow closes a sink that is an
// io.Closer, and Write leaves closing to its caller.
type writerOnly struct{ w io.Writer }

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }

func writeParquet(ctx context.Context, w io.Writer, g *Generator, rows int64, progress func(int64)) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	w = writerOnly{bw}
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithMaxRowGroupLength(parquetRowGroupRows), parquet.WithDictionaryDefault(true))
	fw, err := pqarrow.NewFileWriter(Schema(), w, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return fmt.Errorf("gen: parquet writer: %w", err)
	}
	r := NewReader(ctx, g, rows, progressEvery)
	defer r.Release()
	for r.Next() {
		if err := fw.WriteBuffered(r.RecordBatch()); err != nil {
			fw.Close()
			return fmt.Errorf("gen: write parquet: %w", err)
		}
		progress(r.RecordBatch().NumRows())
	}
	if err := r.Err(); err != nil {
		fw.Close()
		return err
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("gen: write parquet: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gen: write parquet: %w", err)
	}
	return nil
}

// WriteDir writes the next rows events of g into dir (created if needed) as files of at most
// fileRows events each, named events-00000.<ext>, events-00001.<ext>, ... in delivery order, and
// returns their paths. Each file is written to a temporary name and renamed when complete.
func WriteDir(ctx context.Context, dir string, format Format, g *Generator, rows, fileRows int64, progress func(int64)) ([]string, error) {
	if fileRows <= 0 {
		return nil, fmt.Errorf("%w: fileRows %d must be positive", ErrInvalidConfig, fileRows)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("gen: %w", err)
	}
	var files []string
	for n := 0; rows > 0; n++ {
		path := filepath.Join(dir, fmt.Sprintf("events-%05d%s", n, format.Extension()))
		if err := WriteFile(ctx, path, format, g, min(rows, fileRows), progress); err != nil {
			return files, err
		}
		files = append(files, path)
		rows -= min(rows, fileRows)
	}
	return files, nil
}

// WriteFile writes the next rows events of g to the file path (see Write), through a temporary
// file renamed into place when complete. The file's directory is created if needed.
func WriteFile(ctx context.Context, path string, format Format, g *Generator, rows int64, progress func(int64)) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	err = Write(ctx, f, format, g, rows, progress)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("gen: %s: %w", path, err)
	}
	return nil
}
