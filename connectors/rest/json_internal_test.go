package rest

import (
	"testing"

	"github.com/ohler55/ojg/jp"
)

func TestSelectRecordsKeepsOrder(t *testing.T) {
	doc, err := decodeBody([]byte(`{"data":{"items":[{"z":1,"a":{"q":2}},{"z":3}]},"next":"x"}`), "application/json", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"$.data.items[*]", "$.data.items", "$['data']['items'][*]"} {
		recs, err := selectRecords(jp.MustParseString(src), doc)
		if err != nil || len(recs) != 2 {
			t.Fatalf("%s: %v %v", src, recs, err)
		}
		kv := recs[0].(*object).kvs()
		if kv[0].Key != "z" || kv[1].Key != "a" {
			t.Fatalf("%s: order %v", src, kv)
		}
	}
	if v := selectOne(jp.MustParseString("$.next"), doc); v != "x" {
		t.Fatalf("next = %v", v)
	}
}
