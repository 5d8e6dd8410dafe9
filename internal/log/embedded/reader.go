package embedded

import (
	"fmt"
	"io"
)

// frameReader reads verified frames one after the other from a segment file between two byte
// positions, through a read-ahead buffer.
type frameReader struct {
	r     io.ReaderAt
	file  string // for errors
	pos   int64  // position of the next frame
	end   int64  // stop here (exclusive)
	chunk int    // read-ahead size
	reuse bool   // reuse the buffer: frames are valid only until the next call

	buf    []byte
	bufPos int64 // file position of buf[0]
}

func newFrameReader(r io.ReaderAt, file string, pos, end int64, chunk int, reuse bool) *frameReader {
	return &frameReader{r: r, file: file, pos: pos, end: end, chunk: chunk, reuse: reuse}
}

// next returns the next frame and its position; io.EOF at end. Framing or checksum failures are
// *corruptError values (wrapping log.ErrCorrupt) at the frame's position; read failures are
// wrapped I/O errors.
func (fr *frameReader) next() (pos int64, h batchHeader, frame []byte, err error) {
	pos = fr.pos
	if pos >= fr.end {
		return pos, h, nil, io.EOF
	}
	if fr.end-pos < batchHeaderSize {
		return pos, h, nil, corruptf(fr.file, pos, "truncated batch header: %d bytes before the end at %d", fr.end-pos, fr.end)
	}
	hb, err := fr.bytes(pos, batchHeaderSize)
	if err != nil {
		return pos, h, nil, err
	}
	if h, err = parseBatchHeader(hb); err != nil {
		return pos, h, nil, corruptf(fr.file, pos, "%v", err)
	}
	if pos+h.size > fr.end {
		return pos, h, nil, corruptf(fr.file, pos, "batch at offset %d of %d bytes runs past the end at %d", h.base, h.size, fr.end)
	}
	if frame, err = fr.bytes(pos, int(h.size)); err != nil {
		return pos, h, nil, err
	}
	if !checkCRC(frame) {
		return pos, h, nil, corruptf(fr.file, pos, "checksum mismatch in batch at offset %d", h.base)
	}
	fr.pos = pos + h.size
	return pos, h, frame, nil
}

// bytes returns n file bytes at pos from the buffer, reading ahead when they are not there.
func (fr *frameReader) bytes(pos int64, n int) ([]byte, error) {
	if pos >= fr.bufPos && pos+int64(n) <= fr.bufPos+int64(len(fr.buf)) {
		o := pos - fr.bufPos
		return fr.buf[o : o+int64(n) : o+int64(n)], nil
	}
	size := int64(max(n, fr.chunk))
	size = min(size, fr.end-pos)
	var buf []byte
	if fr.reuse && int64(cap(fr.buf)) >= size {
		buf = fr.buf[:size]
	} else {
		buf = make([]byte, size)
	}
	m, err := fr.r.ReadAt(buf, pos)
	if m < len(buf) {
		if err == nil || err == io.EOF {
			return nil, corruptf(fr.file, pos+int64(m), "file ends at byte %d, expected %d more bytes", pos+int64(m), int64(len(buf)-m))
		}
		return nil, fmt.Errorf("embedded log: read %s at byte %d: %w", fr.file, pos, err)
	}
	fr.buf, fr.bufPos = buf, pos
	return buf[:n:n], nil
}
