package ingest

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Format is an input file format.
type Format string

// The formats. TSV is CSV whose default delimiter is a tab.
const (
	FormatCSV     Format = "csv"
	FormatTSV     Format = "tsv"
	FormatNDJSON  Format = "ndjson"
	FormatParquet Format = "parquet"
)

// compression is how a file's bytes are compressed, told by its last extension.
type compression int

const (
	compressNone compression = iota
	compressGzip
	compressZstd
)

// DetectFormat tells a file's format. A non-empty override wins: "csv", "tsv", "ndjson" (also
// "json" and "jsonl") or "parquet", case-insensitive. Otherwise the extension decides, after
// stripping one compression extension (".gz", ".zst"): ".csv"; ".tsv"; ".json", ".ndjson",
// ".jsonl"; ".parquet". A ".json" file is read as newline-delimited JSON (one object per line),
// never as one JSON document. Anything else is an error wrapping ErrUnknownFormat that names the
// file.
func DetectFormat(path, override string) (Format, error) {
	if override != "" {
		if f, ok := formatByName(override); ok {
			return f, nil
		}
		return "", fmt.Errorf("%w: %q for %s (want csv, tsv, ndjson or parquet)", ErrUnknownFormat, override, path)
	}
	base, _ := splitCompression(path)
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(base)), ".")
	if f, ok := formatByName(ext); ok {
		return f, nil
	}
	return "", fmt.Errorf("%w: cannot tell the format of %s from its extension; name it with --format", ErrUnknownFormat, path)
}

func formatByName(name string) (Format, bool) {
	switch strings.ToLower(name) {
	case "csv":
		return FormatCSV, true
	case "tsv":
		return FormatTSV, true
	case "json", "ndjson", "jsonl":
		return FormatNDJSON, true
	case "parquet":
		return FormatParquet, true
	}
	return "", false
}

// splitCompression strips a compression extension from path.
func splitCompression(path string) (string, compression) {
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, ".gz"):
		return path[:len(path)-3], compressGzip
	case strings.HasSuffix(lower, ".zst"):
		return path[:len(path)-4], compressZstd
	}
	return path, compressNone
}

// inputFile is an open input stream, decompressed, with a UTF-8 byte-order mark removed.
type inputFile struct {
	*bufio.Reader
	closers []func() error
}

func (f *inputFile) Close() error {
	var first error
	for i := len(f.closers) - 1; i >= 0; i-- {
		if err := f.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	f.closers = nil
	return first
}

// openText opens path for sequential reading, decompressing by extension and dropping a leading
// UTF-8 byte-order mark.
func openText(path string) (*inputFile, error) {
	raw, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	in := &inputFile{closers: []func() error{raw.Close}}
	r, err := decompress(path, raw, in)
	if err != nil {
		in.Close()
		return nil, err
	}
	in.Reader = bufio.NewReaderSize(r, 256<<10)
	if b, err := in.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		in.Discard(3)
	}
	return in, nil
}

// decompress wraps r in the decompressor the path's extension names, registering its Close.
func decompress(path string, r io.Reader, in *inputFile) (io.Reader, error) {
	_, comp := splitCompression(path)
	switch comp {
	case compressGzip:
		zr, err := gzip.NewReader(bufio.NewReaderSize(r, 64<<10))
		if err != nil {
			return nil, fmt.Errorf("ingest: %s: gzip: %w", path, err)
		}
		in.closers = append(in.closers, zr.Close)
		return &namedReader{r: zr, path: path, what: "gzip"}, nil
	case compressZstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("ingest: %s: zstd: %w", path, err)
		}
		in.closers = append(in.closers, func() error { zr.Close(); return nil })
		return &namedReader{r: zr, path: path, what: "zstd"}, nil
	}
	return r, nil
}

// namedReader adds the file and codec to decompression errors, which otherwise say only
// "invalid header" or "checksum error".
type namedReader struct {
	r    io.Reader
	path string
	what string
}

func (n *namedReader) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %s: %w", n.path, n.what, err)
	}
	return k, err
}
