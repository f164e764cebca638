package filesink_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"gopkg.in/yaml.v3"

	"github.com/tributary-data/tributary/connector"
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

// TestRemoteDocExamples builds the destinations of the remote files page,
// so a documented setting the connectors refuse fails here.
func TestRemoteDocExamples(t *testing.T) {
	data, err := os.ReadFile("../../docs/connectors/remote-files.md")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(data, -1) {
		var doc struct {
			Destination struct {
				Connector string         `yaml:"connector"`
				Config    map[string]any `yaml:"config"`
			} `yaml:"destination"`
		}
		if err := yaml.Unmarshal(m[1], &doc); err != nil {
			t.Fatalf("example does not parse: %v\n%s", err, m[1])
		}
		if doc.Destination.Connector == "" {
			continue
		}
		raw, _ := json.Marshal(doc.Destination.Config)
		d, err := connector.NewDestination(context.Background(), doc.Destination.Connector, raw)
		if err != nil {
			t.Errorf("example destination refused: %v\n%s", err, m[1])
			continue
		}
		d.Close()
		checked++
	}
	if checked == 0 {
		t.Error("no destination example")
	}
}

// TestS3AbortsUnfinishedUploads: a part larger than one upload chunk goes
// up as a multipart upload, which a killed process leaves unfinished (and
// billed) in the bucket. Opening the stream again aborts it.
func TestS3AbortsUnfinishedUploads(t *testing.T) {
	ctx := context.Background()
	s3 := peertest.StartS3(t)
	bucket := s3.Bucket(t)
	core := minio.Core{Client: s3.Client}
	// What a kill during the upload of a big part leaves behind.
	if _, err := core.NewMultipartUpload(ctx, bucket, "out/s/part-000001-000007.jsonl", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another stream's upload is not this stream's business.
	if _, err := core.NewMultipartUpload(ctx, bucket, "out/other/part-000001-000000.jsonl", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	d, err := filesink.NewAt("s3://"+bucket+"/out", jsonl.SinkFormat(), s3.Options())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	w, err := d.Open(ctx, connector.Load{Pipeline: "p", Stream: "s", SyncMode: connector.IncrementalAppend})
	if err != nil {
		t.Fatal(err)
	}
	w.Close(ctx, false)
	var left []string
	for u := range s3.Client.ListIncompleteUploads(ctx, bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		left = append(left, u.Key)
	}
	if len(left) != 1 || left[0] != "out/other/part-000001-000000.jsonl" {
		t.Errorf("unfinished uploads after open = %v, want only the other stream's", left)
	}
}
