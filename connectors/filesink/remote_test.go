package filesink_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connectors/csv"
	"github.com/tributary-data/tributary/connectors/filesink"
	"github.com/tributary-data/tributary/connectors/filesink/sinktest"
	"github.com/tributary-data/tributary/connectors/jsonl"
	"github.com/tributary-data/tributary/connectors/location"
	"github.com/tributary-data/tributary/connectors/location/peertest"
	"github.com/tributary-data/tributary/connectors/parquet"
)

// TestRemoteConformance runs the destination suite with the directory on
// a MinIO bucket and on an SFTP server: the same manifest commit, crash
// recovery, quarantine and merges as on a local disk.
func TestRemoteConformance(t *testing.T) {
	csvFormat, _ := csv.SinkFormat("", true)
	pqFormat, _ := parquet.SinkFormat("")
	formats := []struct {
		name string
		o    sinktest.Options
	}{
		{"jsonl", sinktest.Options{Format: jsonl.SinkFormat()}},
		{"csv", sinktest.Options{Format: csvFormat, EmptyIsNull: true}},
		{"parquet", sinktest.Options{Format: pqFormat, TimePrecision: time.Microsecond}},
	}
	s3 := peertest.StartS3(t)
	sf := peertest.StartSFTP(t)
	for _, f := range formats {
		t.Run("s3/"+f.name, func(t *testing.T) {
			o := f.o
			bucket := s3.Bucket(t)
			o.Locations = s3.Options()
			o.Dir = func(t *testing.T) string {
				return "s3://" + bucket + "/" + strings.ReplaceAll(t.Name(), "/", "_")
			}
			sinktest.Run(t, o)
		})
		t.Run("sftp/"+f.name, func(t *testing.T) {
			o := f.o
			o.Locations = sf.Options()
			o.Dir = func(t *testing.T) string {
				return sf.URL(filepath.Join(f.name, strings.ReplaceAll(t.Name(), "/", "_")))
			}
			sinktest.Run(t, o)
		})
	}
}

func TestNewRefusesHTTPS(t *testing.T) {
	if _, err := filesink.NewAt("https://example.test/out", jsonl.SinkFormat(), location.Options{}); err == nil || !strings.Contains(err.Error(), "read only") {
		t.Errorf("https destination: %v, want a read-only error", err)
	}
	if _, err := filesink.New("s3://bucket/out", jsonl.SinkFormat()); err == nil {
		t.Error("New took a remote location without options")
	}
}
