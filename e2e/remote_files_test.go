package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesink"
	"github.com/tributary-data/tributary/connectors/jsonl"
	"github.com/tributary-data/tributary/connectors/location"
	"github.com/tributary-data/tributary/connectors/location/peertest"
)

// remotePipeline reads the example people files from a MinIO bucket and
// writes JSON Lines parts to an SFTP server, credentials from the
// environment.
const remotePipeline = `version: 1
name: people-s3-to-sftp
source:
  connector: csv
  config:
    path: s3://${BUCKET}/landing/people*.csv
    s3_endpoint: ${S3_ENDPOINT}
    s3_access_key_id: ${S3_KEY}
    s3_secret_access_key: ${S3_SECRET}
    s3_path_style: true
  streams:
    - name: people
      sync_mode: incremental_dedup
      primary_key: [id]
      cursor_field: updated_at
      schema: {id: int64, amount: decimal, updated_at: timestamp}
destination:
  connector: jsonl
  config:
    path: ${SFTP_OUT}
    sftp_password: ${SFTP_PASSWORD}
    sftp_host_key_fingerprint: ${SFTP_HOST_KEY}
`

// TestRemoteFilesPipeline runs a pipeline file from S3 to SFTP as a user
// would: the first run loads one file, a run without new files reads
// nothing, a new file brings its rows only.
func TestRemoteFilesPipeline(t *testing.T) {
	ctx := context.Background()
	s3 := peertest.StartS3(t)
	sf := peertest.StartSFTP(t)
	bucket := s3.Bucket(t)
	out := sf.URL("out")
	env := []string{"BUCKET=" + bucket, "S3_ENDPOINT=" + s3.Endpoint, "S3_KEY=" + s3.AccessKey, "S3_SECRET=" + s3.SecretKey,
		"SFTP_OUT=" + out, "SFTP_PASSWORD=" + sf.Password, "SFTP_HOST_KEY=" + sf.HostKey}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pipeline.yaml"), remotePipeline)

	in := location.NewResolver(s3.Options())
	defer in.Close()
	upload := func(name string, data []byte) {
		t.Helper()
		fsys, p, err := in.Resolve(ctx, "s3://"+bucket+"/landing/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if err := fsys.WriteFile(ctx, p, ".tmp-", data); err != nil {
			t.Fatal(err)
		}
	}
	people1, err := os.ReadFile("../examples/data/people1.csv")
	if err != nil {
		t.Fatal(err)
	}
	upload("people1.csv", people1)

	outR := location.NewResolver(sf.Options())
	defer outR.Close()
	rows := func() int64 {
		t.Helper()
		n, err := filesink.RowsIn(ctx, outR, out, "people")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	first := runPipeline(t, dir, env, "pipeline.yaml")
	if s := first.Streams[0]; s.Read != 1003 || s.Written != 1000 || s.Quarantined != 3 {
		t.Fatalf("first run: %+v", s)
	}
	if n := rows(); n != 1000 {
		t.Fatalf("destination holds %d rows, want 1000", n)
	}
	fsys, qp, err := outR.Resolve(ctx, out+"/people.quarantine.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	q, err := fsys.ReadFile(ctx, qp)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(q, []byte("\n")); n != 3 || !strings.Contains(string(q), "s3://"+bucket+"/landing/people1.csv:") {
		t.Errorf("quarantine on the SFTP server holds %d records, want 3 naming the S3 file:\n%s", n, q)
	}

	again := runPipeline(t, dir, env, "pipeline.yaml")
	if s := again.Streams[0]; s.Read != 0 {
		t.Errorf("run without new files read %d rows", s.Read)
	}

	upload("people2.csv", []byte(people2()))
	third := runPipeline(t, dir, env, "pipeline.yaml")
	if s := third.Streams[0]; s.Read != 150 || s.Written != 150 {
		t.Errorf("run after a new file: %+v, want its 150 rows only", s)
	}
	if n := rows(); n != 1050 {
		t.Errorf("destination holds %d rows after the merge, want 1050", n)
	}

	// A secret never reaches the output, even in an error.
	bad := append(append([]string(nil), env...), "SFTP_PASSWORD=wrong-password")
	r := tributary(t, dir, bad, "run", "pipeline.yaml")
	if r.code == 0 || strings.Contains(r.stdout+r.stderr, s3.SecretKey) || strings.Contains(r.stdout+r.stderr, "wrong-password") {
		t.Errorf("run with a wrong password: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestCrashRemote is the kill loop of a pipeline whose files are on S3 on
// both ends: csv sources resumed with ranged reads, JSON Lines parts
// uploaded under their final names and committed by the manifest. Every
// id must arrive exactly once whatever the moment of the kills.
func TestCrashRemote(t *testing.T) {
	ctx := context.Background()
	s3 := peertest.StartS3(t)
	bucket := s3.Bucket(t)
	local := t.TempDir()
	writeCrashData(t, local)
	r := location.NewResolver(s3.Options())
	defer r.Close()
	for f := range 4 {
		data, err := os.ReadFile(filepath.Join(local, "data", fmt.Sprintf("rows%d.csv", f)))
		if err != nil {
			t.Fatal(err)
		}
		fsys, p, err := r.Resolve(ctx, fmt.Sprintf("s3://%s/in/rows%d.csv", bucket, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := fsys.WriteFile(ctx, p, ".tmp-", data); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	out := "s3://" + bucket + "/out"
	creds := fmt.Sprintf("s3_endpoint: %s, s3_access_key_id: %s, s3_secret_access_key: %s, s3_path_style: true", s3.Endpoint, s3.AccessKey, s3.SecretKey)
	writeFile(t, filepath.Join(dir, "crash.yaml"), fmt.Sprintf(`version: 1
name: crash-remote
source:
  connector: csv
  config: {path: "s3://%s/in/rows*.csv", %s}
  streams:
    - name: rows
      sync_mode: incremental_append
      schema: {id: int64, amount: decimal, updated_at: timestamp}
destination:
  connector: jsonl
  config: {path: %q, %s}
options:
  batch_size: 5000
  commit_rows: 10000
  commit_interval: 200ms
`, bucket, creds, out, creds))

	reset := func() {
		objs := s3.Client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "out/", Recursive: true})
		for e := range s3.Client.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
			t.Fatalf("reset: %v", e.Err)
		}
	}
	committed := func() int64 {
		n, err := filesink.RowsIn(ctx, r, out, "rows")
		if err != nil {
			return 0
		}
		return n
	}
	verify := func(i int) {
		seen := make([]bool, crashRows)
		n := 0
		err := filesink.ReadIn(ctx, r, out, "rows", jsonl.SinkFormat(), func(s *connector.Schema, row []any) error {
			v, err := connector.Convert(connector.TypeInt64, row[s.Index("id")])
			if err != nil {
				return err
			}
			id := v.(int64)
			if id < 0 || id >= crashRows || seen[id] {
				return fmt.Errorf("id %d out of range or loaded twice", id)
			}
			seen[id] = true
			n++
			return nil
		})
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		if n != crashRows {
			t.Fatalf("iteration %d: %d rows, want %d", i, n, crashRows)
		}
	}
	crashLoop(t, nil, reset, committed, verify, dir)
}
