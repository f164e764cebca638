package filesink

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameBytes keeps a safe name, plus the ".quarantine.jsonl" suffix,
// under the 255-byte file name limit of common file systems.
const maxNameBytes = 200

// SafeName turns a stream name into a file name that is the same on every
// run and cannot escape the destination directory: letters and digits of any
// script, '-', '_' and '.' are kept; every other byte (slashes, spaces,
// quotes, control characters, '%') becomes %XX, as in a URL. A leading dot
// is escaped too, so no stream hides or collides with the "." and ".."
// entries or the temporary files, and so is the dot of a trailing
// ".quarantine.jsonl", which would meet the quarantine file of another
// stream. Names longer than 200 bytes are cut and
// suffixed with a hash of the full name. The real name is kept in the
// manifest.
func SafeName(stream string) string {
	if stream == "" {
		return "%00empty"
	}
	var b strings.Builder
	for i := 0; i < len(stream); {
		r, size := utf8.DecodeRuneInString(stream[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(percent(stream[i : i+1]))
		case r == '.' && i == 0:
			b.WriteString("%2E")
		case r == '-' || r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		default:
			b.WriteString(percent(stream[i : i+size]))
		}
		i += size
	}
	s := b.String()
	if strings.HasSuffix(s, quarantineSuffix) {
		// Keep the directory of stream "x.quarantine.jsonl" apart from the
		// quarantine file of stream "x".
		s = s[:len(s)-len(quarantineSuffix)] + "%2E" + quarantineSuffix[1:]
	}
	if len(s) > maxNameBytes {
		sum := sha256.Sum256([]byte(stream))
		cut := maxNameBytes - 17
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "~" + hex.EncodeToString(sum[:8])
	}
	return s
}

const quarantineSuffix = ".quarantine.jsonl"

func percent(s string) string {
	const hexDigits = "0123456789ABCDEF"
	out := make([]byte, 0, 3*len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		out = append(out, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return string(out)
}
