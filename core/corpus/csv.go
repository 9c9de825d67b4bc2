package corpus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ReadCSV reads a table whose first row names its columns, one record per
// row: the columns are the record's fields (record.go), matched without
// regard to case or surrounding spaces, so a "text" column, or columns
// such as "question" and "answer", make the documents. sep is ',' for CSV
// and '\t' for TSV. Fields are quoted as RFC 4180 says (and as Excel,
// pandas and Python's csv write them): a field that starts with '"' runs to
// the next lone '"', may span lines, and writes '"' as '""'. Errors name
// the file and line.
//
// The table is parsed here rather than by encoding/csv, which would add
// 90 KB to the page for the same rules.
func ReadCSV(r io.Reader, name string, sep byte) ([]Doc, error) {
	b, err := readAllText(r, name)
	if err != nil {
		return nil, err
	}
	t := table{rest: b, sep: sep, line: 1}
	header, _, err := t.row()
	if err != nil {
		return nil, fmt.Errorf("%s:%v", name, err)
	}
	if header == nil {
		return nil, fmt.Errorf("%s: no header row (expected column names such as \"text\")", name)
	}
	cols := make([]string, len(header))
	for i, h := range header {
		cols[i] = strings.ToLower(strings.TrimSpace(h))
		if cols[i] != "" && slices.Contains(cols[:i], cols[i]) {
			return nil, fmt.Errorf("%s:1: column %q appears twice in the header", name, h)
		}
	}
	if !slices.ContainsFunc(cols, func(c string) bool { return c == "text" || slices.Contains(textKeys, c) }) {
		return nil, fmt.Errorf("%s: no column for the text: expected \"text\", or columns such as \"instruction\" and \"output\" (the header has %s)", name, quoted(header))
	}
	var docs []Doc
	for {
		row, line, err := t.row()
		if err != nil {
			return nil, fmt.Errorf("%s:%v", name, err)
		}
		if row == nil {
			break
		}
		if len(row) == 1 && strings.TrimSpace(row[0]) == "" {
			continue // a blank line
		}
		if len(row) != len(cols) {
			return nil, fmt.Errorf("%s:%d: %d fields, but the header names %d columns", name, line, len(row), len(cols))
		}
		rec := map[string]json.RawMessage{}
		for i, v := range row {
			if cols[i] != "" && v != "" {
				rec[cols[i]], _ = json.Marshal(v)
			}
		}
		d, err := docOf(rec)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: no documents (the table has no rows)", name)
	}
	return docs, nil
}

// table splits delimited text into rows.
type table struct {
	rest []byte // what is not read yet
	sep  byte
	line int // the line rest starts on
}

// row returns the next row's fields and the line it starts on, or nil at
// the end. Lines end in "\n" or "\r\n".
func (t *table) row() ([]string, int, error) {
	if len(t.rest) == 0 {
		return nil, t.line, nil
	}
	start := t.line
	var fields []string
	for {
		var f []byte
		if len(t.rest) > 0 && t.rest[0] == '"' {
			// A quoted field: up to the '"' that is not doubled.
			at := t.line
			t.rest = t.rest[1:]
			for {
				i := bytes.IndexByte(t.rest, '"')
				if i < 0 {
					return nil, 0, fmt.Errorf("%d: a quoted field is not closed", at)
				}
				f = append(f, t.rest[:i]...)
				t.line += bytes.Count(t.rest[:i], []byte("\n"))
				t.rest = t.rest[i+1:]
				if len(t.rest) > 0 && t.rest[0] == '"' {
					f = append(f, '"')
					t.rest = t.rest[1:]
					continue
				}
				break
			}
			if len(t.rest) > 0 && t.rest[0] != t.sep && t.rest[0] != '\n' && !bytes.HasPrefix(t.rest, []byte("\r\n")) && string(t.rest) != "\r" {
				return nil, 0, fmt.Errorf("%d: text after a quoted field's closing quote (a quote inside a quoted field is written \"\")", t.line)
			}
			f = bytes.ReplaceAll(f, []byte("\r\n"), []byte("\n"))
		} else {
			// A plain field: up to the separator or the line's end.
			i := bytes.IndexAny(t.rest, string([]byte{t.sep, '\n'}))
			if i < 0 {
				i = len(t.rest)
			}
			f = bytes.TrimSuffix(t.rest[:i], []byte("\r"))
			t.rest = t.rest[i:]
		}
		fields = append(fields, string(f))
		if len(t.rest) == 0 {
			return fields, start, nil
		}
		if t.rest[0] == t.sep {
			t.rest = t.rest[1:]
			continue
		}
		// The line ends ("\n", or "\r\n" after a quoted field; a last
		// "\r" has no "\n" and is dropped with the rest).
		t.rest = t.rest[bytes.IndexByte(t.rest, '\n')+1:]
		if string(t.rest) == "\r" {
			t.rest = nil
		}
		t.line++
		return fields, start, nil
	}
}

// quoted lists names in quotes, comma-separated.
func quoted(names []string) string {
	q := make([]string, len(names))
	for i, s := range names {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
