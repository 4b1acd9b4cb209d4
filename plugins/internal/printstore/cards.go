package printstore

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// cardRow is one data line of an import file.
type cardRow struct {
	Line int
	User string
	Card string
}

// parseCardCSV reads an import file: lines of user,card, with an optional
// header line ("user,card" or "<keyName>,card"). Fields are trimmed, blank
// lines skipped, CRLF line ends and a UTF-8 byte order mark accepted. A
// file that is not CSV of two columns, or that has no data line, is an
// Invalid error naming the line.
func parseCardCSV(payload []byte, keyName string) ([]cardRow, error) {
	payload = bytes.TrimPrefix(payload, []byte("\xef\xbb\xbf"))
	r := csv.NewReader(bytes.NewReader(payload))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	var rows []cardRow
	first := true
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, sdk.Invalid("%s: the CSV is malformed at line %d: %v", ActionImportCards, pe.StartLine, pe.Err)
			}
			return nil, sdk.Invalid("%s: reading the CSV: %v", ActionImportCards, err)
		}
		line, _ := r.FieldPos(0)
		blank := true
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
			blank = blank && rec[i] == ""
		}
		if blank {
			continue
		}
		if len(rec) != 2 {
			return nil, sdk.Invalid("%s: line %d has %d fields; each line must be %s,card", ActionImportCards, line, len(rec), keyName)
		}
		if first {
			first = false
			u := strings.ToLower(rec[0])
			if (u == "user" || u == strings.ToLower(keyName)) && strings.EqualFold(rec[1], "card") {
				continue
			}
		}
		rows = append(rows, cardRow{Line: line, User: rec[0], Card: rec[1]})
	}
	if len(rows) == 0 {
		return nil, sdk.Invalid("%s: the CSV has no %s,card lines", ActionImportCards, keyName)
	}
	return rows, nil
}

// RefusedRow is an import line that was not applied, and why.
type RefusedRow struct {
	Line   int    `json:"line"`
	User   string `json:"user"`
	Card   string `json:"card"`
	Reason string `json:"reason"`
}

// ImportResult is the Result of the import action.
type ImportResult struct {
	// Rows is the number of data lines.
	Rows int `json:"rows"`
	// Added counts cards assigned by this import.
	Added int `json:"added"`
	// AlreadyAssigned counts lines whose card the user already had.
	AlreadyAssigned int `json:"already_assigned"`
	// Reclaimed counts added cards that were retained from deleted users
	// and have left the retained cards.
	Reclaimed int `json:"reclaimed"`
	// Refused lists the lines that were not applied.
	Refused []RefusedRow `json:"refused"`
}

// importCards assigns the cards of rows, b.chunk lines a transaction.
// Each line is applied or refused on its own.
func (b *Backend[P]) importCards(ctx context.Context, rows []cardRow) (*sdk.ActionResponse, error) {
	res := ImportResult{Rows: len(rows), Refused: []RefusedRow{}}
	for start := 0; start < len(rows); start += b.chunk {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("importing cards: %w", err)
		}
		part := rows[start:min(start+b.chunk, len(rows))]
		err := b.db.Update(func(txn *badger.Txn) error {
			for _, row := range part {
				reason, err := b.importRow(txn, row, &res)
				if err != nil {
					return err
				}
				if reason != "" {
					res.Refused = append(res.Refused, RefusedRow{Line: row.Line, User: row.User, Card: row.Card, Reason: reason})
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("importing cards from line %d (the lines before it are applied; importing the file again is safe): %w", part[0].Line, err)
		}
	}
	result, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encoding the import result: %w", err)
	}
	msg := fmt.Sprintf("%s: rows: %d, cards added: %d, already assigned: %d, refused: %d",
		ActionImportCards, res.Rows, res.Added, res.AlreadyAssigned, len(res.Refused))
	if res.Reclaimed > 0 {
		msg += fmt.Sprintf("; %d of the added cards were retained from deleted users", res.Reclaimed)
	}
	return &sdk.ActionResponse{Message: msg, Result: result}, nil
}

// importRow assigns one card, or returns why it refuses to.
func (b *Backend[P]) importRow(txn *badger.Txn, row cardRow, res *ImportResult) (string, error) {
	kn := b.product.KeyName
	if row.User == "" {
		return fmt.Sprintf("the %s is empty", kn), nil
	}
	if row.Card == "" {
		return "the card is empty", nil
	}
	rec, found, err := userByKey[P](txn, row.User)
	if err != nil {
		return "", err
	}
	if !found {
		return fmt.Sprintf("no user has the %s %q: users come from the identity provider through SCIM, "+
			"and this import only adds cards to users it has provisioned", kn, row.User), nil
	}
	holder, held, err := getString(txn, simpleKey(prefixCard, fold(row.Card)))
	if err != nil {
		return "", err
	}
	if held && holder == rec.ScimID {
		res.AlreadyAssigned++
		return "", nil
	}
	if held {
		other, ok, err := userByID[P](txn, holder)
		if err != nil {
			return "", err
		}
		if !ok {
			return fmt.Sprintf("card %q is already assigned to another user", row.Card), nil
		}
		return fmt.Sprintf("card %q is already assigned to %s %q", row.Card, kn, other.Key), nil
	}
	if !rec.Enabled && b.settings.CardsOnDeactivate == Remove {
		return fmt.Sprintf("user %q is deactivated, and %s is remove", rec.Key, SettingCardsOnDeactivate), nil
	}
	rk := simpleKey(prefixRetained, fold(row.Card))
	var retained retainedRecord
	wasRetained, err := getJSON(txn, rk, &retained)
	if err != nil {
		return "", err
	}
	if wasRetained {
		if err := txn.Delete(rk); err != nil {
			return "", err
		}
		res.Reclaimed++
	}
	rec.Cards = append(rec.Cards, row.Card)
	if err := putJSON(txn, simpleKey(prefixUser, fold(rec.Key)), rec); err != nil {
		return "", err
	}
	if err := txn.Set(simpleKey(prefixCard, fold(row.Card)), []byte(rec.ScimID)); err != nil {
		return "", err
	}
	res.Added++
	return "", nil
}
