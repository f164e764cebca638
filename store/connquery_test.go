package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tributary-data/tributary/store"
)

func TestListConnections(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		// Created in this order, a little apart, so created_at sorts them.
		for _, c := range []struct{ name, connector string }{
			{"shop_eu", "postgres"}, {"Shop US", "postgres"}, {"files", "csv"}, {"shop%", "mysql"},
		} {
			if err := s.CreateConnection(ctx, &store.Connection{Name: c.name, Connector: c.connector}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		cases := []struct {
			q    store.ConnectionQuery
			page store.Page
			want []string
		}{
			{store.ConnectionQuery{}, store.Page{}, []string{"Shop US", "files", "shop%", "shop_eu"}},
			{store.ConnectionQuery{NameContains: "shop"}, store.Page{}, []string{"Shop US", "shop%", "shop_eu"}},
			{store.ConnectionQuery{NameContains: "_"}, store.Page{}, []string{"shop_eu"}},
			{store.ConnectionQuery{NameContains: "%"}, store.Page{}, []string{"shop%"}},
			{store.ConnectionQuery{Connector: "postgres"}, store.Page{}, []string{"Shop US", "shop_eu"}},
			{store.ConnectionQuery{Connector: "postgres", NameContains: "us"}, store.Page{}, []string{"Shop US"}},
			{store.ConnectionQuery{Sort: "created_at"}, store.Page{}, []string{"shop_eu", "Shop US", "files", "shop%"}},
			{store.ConnectionQuery{Sort: "created_at", Desc: true}, store.Page{Limit: 2, Offset: 1}, []string{"files", "Shop US"}},
			{store.ConnectionQuery{Sort: "name", Desc: true}, store.Page{Limit: 1}, []string{"shop_eu"}},
			{store.ConnectionQuery{Connector: "kafka"}, store.Page{}, []string{}},
		}
		for _, c := range cases {
			got, err := s.ListConnections(ctx, c.q, c.page)
			if err != nil {
				t.Fatalf("%+v: %v", c.q, err)
			}
			names := []string{}
			for _, g := range got {
				names = append(names, g.Name)
			}
			if !slices.Equal(names, c.want) {
				t.Errorf("%+v %+v: %v, want %v", c.q, c.page, names, c.want)
			}
		}
		if _, err := s.ListConnections(ctx, store.ConnectionQuery{Sort: "config"}, store.Page{}); err == nil {
			t.Error("sort by config: no error")
		}
	})
}
