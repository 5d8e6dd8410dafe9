package delta

import (
	"fmt"

	"github.com/google/uuid"
)

// Z85 is ZeroMQ's Base85 (https://rfc.zeromq.org/spec/32/), the variant the Delta protocol uses for
// deletion vector UUIDs and inline deletion vectors because its alphabet is JSON-friendly. Every 4
// bytes, read as a big-endian uint32, become 5 characters, most significant digit first.
//
// The spec only covers input whose length is a multiple of 4. Delta extends it the way its
// Base85Codec does: the encoder pads the input with zero bytes up to the next multiple of 4, and the
// decoder returns whole blocks, so a caller that encoded unaligned bytes must remember the real
// length (an inline DV's sizeInBytes) and cut the padding off.

// z85Alphabet maps a digit (0..84) to its character.
const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// z85Digit maps a character to its digit, or -1 for a character outside the alphabet.
var z85Digit = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(z85Alphabet); i++ {
		t[z85Alphabet[i]] = int8(i)
	}
	return t
}()

// z85UUIDLen is the length of a Z85-encoded UUID (16 bytes = 4 blocks = 20 characters).
const z85UUIDLen = 20

// Z85Encode encodes data as Z85. Input whose length is not a multiple of 4 is padded with zero bytes
// to the next multiple of 4 first (as Delta does), so the result always has 5*ceil(len(data)/4)
// characters; the caller keeps len(data) to undo the padding with Z85DecodeLen.
func Z85Encode(data []byte) string {
	blocks := (len(data) + 3) / 4
	out := make([]byte, blocks*5)
	for b := 0; b < blocks; b++ {
		var v uint32
		for i := 0; i < 4; i++ {
			v <<= 8
			if j := b*4 + i; j < len(data) {
				v |= uint32(data[j])
			}
		}
		for i := 4; i >= 0; i-- {
			out[b*5+i] = z85Alphabet[v%85]
			v /= 85
		}
	}
	return string(out)
}

// Z85Decode decodes a Z85 string into 4*len(s)/5 bytes (padding included; see Z85DecodeLen). The
// length of s must be a multiple of 5, every character must be in the Z85 alphabet, and every
// 5-character block must denote a value below 2^32. Errors wrap ErrCorrupt and give the offending
// position.
func Z85Decode(s string) ([]byte, error) {
	if len(s)%5 != 0 {
		return nil, fmt.Errorf("%w: z85: length %d is not a multiple of 5", ErrCorrupt, len(s))
	}
	out := make([]byte, len(s)/5*4)
	for b := 0; b < len(s)/5; b++ {
		var v uint64
		for i := 0; i < 5; i++ {
			c := s[b*5+i]
			d := z85Digit[c]
			if d < 0 {
				return nil, fmt.Errorf("%w: z85: invalid character %q at position %d", ErrCorrupt, c, b*5+i)
			}
			v = v*85 + uint64(d)
		}
		if v > 0xFFFFFFFF {
			return nil, fmt.Errorf("%w: z85: block %q at position %d overflows 32 bits", ErrCorrupt, s[b*5:b*5+5], b*5)
		}
		out[b*4] = byte(v >> 24)
		out[b*4+1] = byte(v >> 16)
		out[b*4+2] = byte(v >> 8)
		out[b*4+3] = byte(v)
	}
	return out, nil
}

// Z85DecodeLen decodes a Z85 string that encodes exactly n bytes, dropping the zero padding
// Z85Encode added to reach a multiple of 4. It fails (wrapping ErrCorrupt) unless s decodes to
// between n and n+3 bytes and the dropped padding bytes are zero.
func Z85DecodeLen(s string, n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: z85: negative decoded length %d", ErrCorrupt, n)
	}
	if want := (n + 3) / 4 * 5; len(s) != want {
		return nil, fmt.Errorf("%w: z85: %d characters cannot hold exactly %d bytes (want %d characters)",
			ErrCorrupt, len(s), n, want)
	}
	out, err := Z85Decode(s)
	if err != nil {
		return nil, err
	}
	for i := n; i < len(out); i++ {
		if out[i] != 0 {
			return nil, fmt.Errorf("%w: z85: padding byte %d after the %d data bytes is %#x, not 0",
				ErrCorrupt, i-n, n, out[i])
		}
	}
	return out[:n], nil
}

// z85EncodeUUID encodes a UUID's 16 bytes (RFC 4122 order, which is Java's most-significant-bits
// first) as the 20 Z85 characters Delta puts at the end of a "u" deletion vector's pathOrInlineDv.
func z85EncodeUUID(id uuid.UUID) string { return Z85Encode(id[:]) }

// z85DecodeUUID is the inverse of z85EncodeUUID; s must have exactly 20 characters.
func z85DecodeUUID(s string) (uuid.UUID, error) {
	var id uuid.UUID
	if len(s) != z85UUIDLen {
		return id, fmt.Errorf("%w: z85 uuid %q has %d characters, want %d", ErrCorrupt, s, len(s), z85UUIDLen)
	}
	b, err := Z85Decode(s)
	if err != nil {
		return id, err
	}
	copy(id[:], b)
	return id, nil
}
