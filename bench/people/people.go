package people

import (
	"strconv"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// Header is the CSV header line, without the line break.
const Header = "id,name,email,amount,created_at,country,active,score"

// Schema is the typed shape of a row.
var Schema = connector.NewSchema(
	connector.Field{Name: "id", Type: connector.TypeInt64},
	connector.Field{Name: "name", Type: connector.TypeString, Nullable: true},
	connector.Field{Name: "email", Type: connector.TypeString, Nullable: true},
	connector.Field{Name: "amount", Type: connector.TypeDecimal, Nullable: true},
	connector.Field{Name: "created_at", Type: connector.TypeTimestamp, Nullable: true},
	connector.Field{Name: "country", Type: connector.TypeString, Nullable: true},
	connector.Field{Name: "active", Type: connector.TypeBool, Nullable: true},
	connector.Field{Name: "score", Type: connector.TypeFloat64, Nullable: true},
)

// TableDDL is the column list of the table both loaders fill.
const TableDDL = "(id bigint, name text, email text, amount numeric, created_at timestamptz, country text, active boolean, score double precision)"

var (
	firsts    = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken", "Radia", "Niklaus", "Sophie", "Tim", "Lynn", "Guido"}
	lasts     = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "McCarthy", "Hamilton", "Thompson", "Perlman", "Wirth", "Wilson", "Berners-Lee", "Conway", "van Rossum"}
	countries = []string{"US", "GB", "DE", "FR", "IN", "BR", "JP", "CA", "AU", "NL"}
	base      = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
)

// Person is row i's values.
type Person struct {
	ID        int64
	First     string
	Last      string
	Amount    connector.Decimal // two decimals
	CreatedAt time.Time
	Country   string
	Active    bool
	Score     float64
}

// mix is splitmix64: the same i always gives the same row, in any order.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Row returns the i-th person (i from 1).
func Row(i int64) Person {
	r := mix(uint64(i))
	r2 := mix(r)
	return Person{
		ID:        i,
		First:     firsts[r%16],
		Last:      lasts[(r>>4)%16],
		Amount:    connector.Decimal{Unscaled: int64(r>>8) % 10_000_000, Scale: 2},
		CreatedAt: time.Unix(base+int64(r>>32)%(5*365*86400), 0).UTC(),
		Country:   countries[(r>>16)%10],
		Active:    r&(1<<20) != 0,
		Score:     float64(r2%1_000_000) / 1000,
	}
}

// AppendCSV appends row i as one CSV line with its line break.
func AppendCSV(b []byte, i int64) []byte {
	p := Row(i)
	b = strconv.AppendInt(b, p.ID, 10)
	b = append(b, ',')
	b = append(b, p.First...)
	b = append(b, ' ')
	b = append(b, p.Last...)
	b = append(b, ',')
	b = appendEmail(b, p, i)
	b = append(b, ',')
	b = p.Amount.Append(b)
	b = append(b, ',')
	b = p.CreatedAt.AppendFormat(b, time.RFC3339)
	b = append(b, ',')
	b = append(b, p.Country...)
	b = append(b, ',')
	b = strconv.AppendBool(b, p.Active)
	b = append(b, ',')
	b = strconv.AppendFloat(b, p.Score, 'f', -1, 64)
	return append(b, '\n')
}

func appendEmail(b []byte, p Person, i int64) []byte {
	for _, s := range []string{p.First, ".", p.Last} {
		for j := 0; j < len(s); j++ {
			c := s[j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c == ' ' {
				c = '-'
			}
			b = append(b, c)
		}
	}
	b = strconv.AppendInt(b, i, 10)
	return append(b, "@example.com"...)
}

// Values fills row (as wide as [Schema]) with row i's typed values.
func Values(row []any, i int64) {
	p := Row(i)
	row[0] = p.ID
	row[1] = p.First + " " + p.Last
	row[2] = string(appendEmail(nil, p, i))
	row[3] = p.Amount
	row[4] = p.CreatedAt
	row[5] = p.Country
	row[6] = p.Active
	row[7] = p.Score
}

// AppendJSON appends row i as one JSON Lines object with its line break:
// the same values as [AppendCSV], amount as an exact JSON number and
// created_at as an RFC 3339 string. No value needs escaping.
func AppendJSON(b []byte, i int64) []byte {
	p := Row(i)
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, p.ID, 10)
	b = append(b, `,"name":"`...)
	b = append(b, p.First...)
	b = append(b, ' ')
	b = append(b, p.Last...)
	b = append(b, `","email":"`...)
	b = appendEmail(b, p, i)
	b = append(b, `","amount":`...)
	b = p.Amount.Append(b)
	b = append(b, `,"created_at":"`...)
	b = p.CreatedAt.AppendFormat(b, time.RFC3339)
	b = append(b, `","country":"`...)
	b = append(b, p.Country...)
	b = append(b, `","active":`...)
	b = strconv.AppendBool(b, p.Active)
	b = append(b, `,"score":`...)
	b = strconv.AppendFloat(b, p.Score, 'f', -1, 64)
	return append(b, "}\n"...)
}
