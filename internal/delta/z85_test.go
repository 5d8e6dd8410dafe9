package delta

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestZ85EncodeDecode(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		encoded string
	}{
		// The example of the Z85 spec (rfc.zeromq.org/spec/32).
		{"spec example", []byte{0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B}, "HelloWorld"},
		{"empty", []byte{}, ""},
		{"zero block", []byte{0, 0, 0, 0}, "00000"},
		{"max block", []byte{0xFF, 0xFF, 0xFF, 0xFF}, "%nSc0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Z85Encode(tt.data); got != tt.encoded {
				t.Errorf("Z85Encode(%x) = %q, want %q", tt.data, got, tt.encoded)
			}
			got, err := Z85Decode(tt.encoded)
			if err != nil {
				t.Fatalf("Z85Decode(%q): %v", tt.encoded, err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Errorf("Z85Decode(%q) = %x, want %x", tt.encoded, got, tt.data)
			}
		})
	}
}

// TestZ85Padding checks Delta's handling of lengths that are not a multiple of 4: the encoder pads
// with zero bytes (Base85Codec.encodeBytes) and the decoder of an inline DV keeps sizeInBytes bytes
// (Base85Codec.decodeBytes).
func TestZ85Padding(t *testing.T) {
	for n := 0; n <= 9; n++ {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(0xA0 + i)
		}
		enc := Z85Encode(data)
		if want := (n + 3) / 4 * 5; len(enc) != want {
			t.Fatalf("len %d: encoded to %d characters, want %d", n, len(enc), want)
		}
		padded, err := Z85Decode(enc)
		if err != nil {
			t.Fatalf("len %d: Z85Decode: %v", n, err)
		}
		if !bytes.Equal(padded[:n], data) || !bytes.Equal(padded[n:], make([]byte, len(padded)-n)) {
			t.Fatalf("len %d: decoded %x, want %x followed by zeros", n, padded, data)
		}
		got, err := Z85DecodeLen(enc, n)
		if err != nil {
			t.Fatalf("len %d: Z85DecodeLen: %v", n, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("len %d: Z85DecodeLen = %x, want %x", n, got, data)
		}
	}
}

func TestZ85DecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		s       string
		n       int // for Z85DecodeLen; -1 to call Z85Decode
		message string
	}{
		{"length not a multiple of 5", "HelloW", -1, "not a multiple of 5"},
		{"character outside the alphabet", "Hel\"o", -1, `invalid character '"' at position 3`},
		{"space", "Hell World", -1, "invalid character ' ' at position 4"},
		{"non-ASCII", "Hell\xc3\xa9orld", -1, "invalid character"},
		{"block above 2^32", "#####", -1, "overflows 32 bits"},
		{"just above 2^32", "%nSc1", -1, "overflows 32 bits"},
		{"too few characters for n", "HelloWorld", 9, "cannot hold exactly 9 bytes"},
		{"too many characters for n", "HelloWorld", 4, "cannot hold exactly 4 bytes"},
		{"non-zero padding", "HelloWorld", 7, "padding byte 0"},
		{"negative n", "", -2, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.n == -1 {
				_, err = Z85Decode(tt.s)
			} else {
				_, err = Z85DecodeLen(tt.s, tt.n)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v, want one wrapping ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not mention %q", err, tt.message)
			}
		})
	}
}

func TestZ85UUID(t *testing.T) {
	tests := []struct {
		encoded string
		id      string
		source  string
	}{
		{"^-aqEH.-t@S}K{vb[*k^", "d2c639aa-8816-431a-aaf6-d3fe2512ff61", "PROTOCOL.md JSON Example 1"},
		{"vBn[lx{q8@P<9BNH/isA", "61d16c75-6994-46b7-a15b-8b538852e50e", "kernel-data/table-with-dv-small file name"},
		{"U5OWRz5k%CFT.Td}yCPW", "ae7177f2-6d17-4ea8-819b-8d62fa2c5469", "kernel-data/with-short-dv file name"},
		{"J.Dy=B})x<YARTP5LcO1", "8e4ca8be-7615-43cf-bc06-5d131148683f", "delta-rs/table_with_deletion_logs file name"},
		{"Q6Kt3y1b)0MgZSWwPunr", "a2084964-69d4-4e1e-95f5-9bbd6571d5c3", "delta-rs/table_with_deletion_logs file name"},
		{"rsTVZ&*Sl-RXRWjryu/!", "550e8400-e29b-41d4-a716-446655440000", "delta-kernel-rs deletion_vector.rs test"},
		{"5<w-%>:JjlQ/G/]6C<1m", "123e4567-e89b-12d3-a456-426614174000", "delta-kernel-rs deletion_vector.rs test"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			want := uuid.MustParse(tt.id)
			got, err := z85DecodeUUID(tt.encoded)
			if err != nil {
				t.Fatalf("z85DecodeUUID(%q) (%s): %v", tt.encoded, tt.source, err)
			}
			if got != want {
				t.Errorf("z85DecodeUUID(%q) = %s, want %s (%s)", tt.encoded, got, want, tt.source)
			}
			if enc := z85EncodeUUID(want); enc != tt.encoded {
				t.Errorf("z85EncodeUUID(%s) = %q, want %q", want, enc, tt.encoded)
			}
		})
	}
	if _, err := z85DecodeUUID("ab^-aqEH.-t@S}K{vb[*k^"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("22-character UUID: error %v, want ErrCorrupt", err)
	}
}

func TestZ85RoundTripRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for i := 0; i < 500; i++ {
		data := make([]byte, rng.IntN(64))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		enc := Z85Encode(data)
		got, err := Z85DecodeLen(enc, len(data))
		if err != nil {
			t.Fatalf("seed %d: Z85DecodeLen(Z85Encode(%x)): %v", seed, data, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("seed %d: round trip of %x gave %x", seed, data, got)
		}
	}
}
