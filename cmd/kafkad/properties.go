package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// property is one key=value pair from a properties file or a flag; line
// is where it starts, for error messages.
type property struct {
	key, value string
	line       int
}

// parseProperties reads Java's properties format as Properties.load does:
// `#` and `!` comment lines; key and value separated by `=`, `:` or
// whitespace; a line ending in an odd number of backslashes continues on
// the next, whose leading whitespace is dropped; escapes \t \n \r \f \uXXXX,
// and a backslash before any other character keeps just that character.
// Unlike Java, the text is read as UTF-8, not ISO-8859-1.
func parseProperties(data string) ([]property, error) {
	lines := splitLines(data)
	var props []property
	for i := 0; i < len(lines); i++ {
		first := i + 1
		cur := trimLeftSpace(lines[i])
		if cur == "" || cur[0] == '#' || cur[0] == '!' {
			continue
		}
		var logical strings.Builder
		for {
			if trailingBackslashes(cur)%2 == 0 {
				logical.WriteString(cur)
				break
			}
			logical.WriteString(cur[:len(cur)-1])
			if i+1 == len(lines) {
				break
			}
			i++
			cur = trimLeftSpace(lines[i])
		}
		rawKey, rawValue := splitKeyValue(logical.String())
		key, err := unescape(rawKey)
		if err == nil {
			var value string
			if value, err = unescape(rawValue); err == nil {
				props = append(props, property{key: key, value: value, line: first})
				continue
			}
		}
		return nil, fmt.Errorf("line %d: %w", first, err)
	}
	return props, nil
}

// splitLines splits on \n, \r\n and \r, as Java's LineReader does.
func splitLines(s string) []string {
	var lines []string
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
	return lines
}

func isPropSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

func trimLeftSpace(s string) string {
	i := 0
	for i < len(s) && isPropSpace(s[i]) {
		i++
	}
	return s[i:]
}

func trailingBackslashes(s string) int {
	n := 0
	for n < len(s) && s[len(s)-1-n] == '\\' {
		n++
	}
	return n
}

// splitKeyValue splits a logical line, escapes still in place: the key ends
// at the first unescaped '=', ':' or whitespace; whitespace and at most one
// separator after it are skipped.
func splitKeyValue(line string) (string, string) {
	i := 0
	for i < len(line) {
		c := line[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || isPropSpace(c) {
			break
		}
		i++
	}
	i = min(i, len(line))
	key, rest := line[:i], line[i:]
	sep := false
	for len(rest) > 0 {
		c := rest[0]
		if (c == '=' || c == ':') && !sep {
			sep = true
		} else if !isPropSpace(c) {
			break
		}
		rest = rest[1:]
	}
	return key, rest
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var out strings.Builder
	var pendingHigh rune = -1 // a \u high surrogate waiting for its pair
	flush := func() {
		if pendingHigh >= 0 {
			out.WriteRune(utf16.DecodeRune(pendingHigh, 0)) // U+FFFD
			pendingHigh = -1
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			if c != '\\' {
				flush()
				out.WriteByte(c)
			}
			continue
		}
		i++
		if s[i] != 'u' {
			flush()
			out.WriteByte(unescapeByte(s[i]))
			continue
		}
		if i+5 > len(s) {
			return "", fmt.Errorf(`%w: malformed \uxxxx escape`, ErrSyntax)
		}
		n, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
		if err != nil {
			return "", fmt.Errorf(`%w: malformed \uxxxx escape %q`, ErrSyntax, s[i-1:i+5])
		}
		i += 4
		r := rune(n)
		switch {
		case utf16.IsSurrogate(r) && r < 0xDC00:
			flush()
			pendingHigh = r
		case utf16.IsSurrogate(r) && pendingHigh >= 0:
			out.WriteRune(utf16.DecodeRune(pendingHigh, r))
			pendingHigh = -1
		default:
			flush()
			out.WriteRune(r)
		}
	}
	flush()
	return out.String(), nil
}

// unescapeByte maps the letter escapes; any other escaped byte stands for
// itself, so `\=` yields '=' and `\\` a backslash.
func unescapeByte(c byte) byte {
	switch c {
	case 't':
		return '\t'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 'f':
		return '\f'
	}
	return c
}
