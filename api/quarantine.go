package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/store"
)

// QuarantinedRow is a row a run refused.
type QuarantinedRow struct {
	store.QuarantinedRow
	// Row is Raw decoded when it is a JSON object of the row's fields.
	Row map[string]any `json:"row,omitempty" doc:"The row's fields, when the raw record is a JSON object (rows refused by a transform step or the destination)"`
}

func quarantinedOf(q *store.QuarantinedRow) QuarantinedRow {
	out := QuarantinedRow{QuarantinedRow: *q}
	if strings.HasPrefix(strings.TrimSpace(q.Raw), "{") {
		_ = json.Unmarshal([]byte(q.Raw), &out.Row)
	}
	return out
}

// QuarantinePage is one page of a run's kept quarantined rows with the
// counts that say what the store kept.
type QuarantinePage struct {
	List[QuarantinedRow]
	Counts []store.QuarantineCount `json:"counts" doc:"Per stream: rows quarantined (total, all in the destination's quarantine) and rows the store kept"`
	// Truncated says the store kept fewer rows than the run quarantined.
	Truncated bool `json:"truncated" doc:"The store kept fewer rows than the run quarantined (it keeps at most max_kept per run); the destination's quarantine has them all"`
	MaxKept   int  `json:"max_kept" doc:"The most quarantined rows the store keeps per run"`
}

type quarantineOut struct{ Body QuarantinePage }

type replayOut struct {
	Body struct {
		ID       string          `json:"id"`
		Status   store.RunStatus `json:"status"`
		ReplayOf string          `json:"replay_of"`
		Rows     int64           `json:"rows" doc:"Quarantined rows the replay feeds again"`
	}
}

// quarantine registers the routes of quarantined rows: browse, download, replay.
func (s *server) quarantine(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-run-quarantine", Method: http.MethodGet, Path: "/api/v1/runs/{id}/quarantine", Tags: []string{"runs"},
		Summary: "Browse the rows a run quarantined, in the order they were refused",
		Description: "Each row has its stream, origin (file:line where known), the raw record, the reason and the step that refused it. " +
			"The store keeps up to `max_kept` rows per run; `counts` and `truncated` say when it kept fewer than the run " +
			"quarantined. The destination's quarantine (`_tributary_quarantine` table or `<stream>.quarantine.jsonl`) always has every row.",
	}, func(ctx context.Context, in *struct {
		ID     string `path:"id"`
		Stream string `query:"stream" doc:"Only this stream's rows"`
		PageIn
	}) (*quarantineOut, error) {
		counts, err := s.quarantineCounts(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		rows, err := s.store.QuarantinedRows(ctx, in.ID, in.Stream, in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		items := make([]QuarantinedRow, len(rows))
		for i := range rows {
			items[i] = quarantinedOf(&rows[i])
		}
		out := &quarantineOut{Body: QuarantinePage{List: list(items, in.PageIn), Counts: counts, MaxKept: store.MaxQuarantinedPerRun}}
		for _, c := range counts {
			if c.Kept < c.Total {
				out.Body.Truncated = true
			}
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "download-run-quarantine", Method: http.MethodGet, Path: "/api/v1/runs/{id}/quarantine.jsonl", Tags: []string{"runs"},
		Summary: "Download the rows a run quarantined, one JSON object per line",
		Description: "Streams every row the store kept (see the browse route for what it keeps) as JSON Lines. The headers " +
			"`Tributary-Quarantine-Total` and `Tributary-Quarantine-Kept` give the counts; when they differ the destination's quarantine has the rest.",
		Responses: map[string]*huma.Response{"200": {
			Description: "JSON Lines: one quarantined row per line",
			Content:     map[string]*huma.MediaType{"application/jsonl": {Schema: &huma.Schema{Type: huma.TypeString}}},
		}},
	}, func(ctx context.Context, in *struct {
		ID     string `path:"id"`
		Stream string `query:"stream" doc:"Only this stream's rows"`
	}) (*huma.StreamResponse, error) {
		counts, err := s.quarantineCounts(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		var total, kept int64
		for _, c := range counts {
			if in.Stream == "" || c.Stream == in.Stream {
				total, kept = total+c.Total, kept+c.Kept
			}
		}
		return &huma.StreamResponse{Body: func(hc huma.Context) {
			hc.SetHeader("Content-Type", "application/jsonl")
			hc.SetHeader("Content-Disposition", `attachment; filename="run-`+in.ID+`-quarantine.jsonl"`)
			hc.SetHeader("Tributary-Quarantine-Total", strconv.FormatInt(total, 10))
			hc.SetHeader("Tributary-Quarantine-Kept", strconv.FormatInt(kept, 10))
			hc.SetStatus(http.StatusOK)
			enc := json.NewEncoder(hc.BodyWriter())
			err := s.store.EachQuarantined(hc.Context(), in.ID, in.Stream, func(q *store.QuarantinedRow) error {
				return enc.Encode(quarantinedOf(q))
			})
			if err != nil && hc.Context().Err() == nil {
				// The status is sent: a cut-off body is all a client can
				// notice, and the process log says why.
				s.log.ErrorContext(hc.Context(), "download quarantine", "run_id", in.ID, "error", err)
			}
		}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "replay-run", Method: http.MethodPost, Path: "/api/v1/runs/{id}/replay", Tags: []string{"runs"},
		Summary: "Queue a run feeding the run's quarantined rows through the pipeline's current version",
		Description: "For use after fixing the pipeline. The new run (trigger `replay`, `replay_of` the run) reads no source: it takes " +
			"the rows the store kept of the finished run, types them as the source describes its streams, passes them through the " +
			"current version's steps and checks into the destination, and keeps the pipeline's state as it is (streams the pipeline " +
			"overwrites are appended to). Rows refused again are quarantined under the new run.",
		DefaultStatus: http.StatusAccepted,
	}, func(ctx context.Context, in *idPath) (*replayOut, error) {
		r, err := s.store.Run(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if !r.Status.Done() {
			return nil, huma.Error409Conflict("run " + r.ID + " is " + string(r.Status) + ": replay it once it is finished")
		}
		p, err := s.store.Pipeline(ctx, r.PipelineID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if !p.Enabled {
			return nil, huma.Error409Conflict("pipeline " + p.Name + " is disabled")
		}
		counts, err := s.store.QuarantineCounts(ctx, r.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		var kept int64
		for _, c := range counts {
			kept += c.Kept
		}
		if kept == 0 {
			return nil, huma.Error409Conflict("run " + r.ID + " has no quarantined rows to replay")
		}
		run, err := s.store.CreateReplayRun(ctx, r.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if err := s.queue.Enqueue(ctx, run.ID); err != nil {
			_ = s.store.FinishRun(context.WithoutCancel(ctx), run.ID, store.Failed, err.Error(), nil)
			s.log.ErrorContext(ctx, "enqueue replay run", "run_id", run.ID, "error", err)
			return nil, huma.Error503ServiceUnavailable("could not queue the run")
		}
		out := &replayOut{}
		out.Body.ID, out.Body.Status, out.Body.ReplayOf, out.Body.Rows = run.ID, run.Status, r.ID, kept
		return out, nil
	})
}

// quarantineCounts checks the run exists and returns its counts.
func (s *server) quarantineCounts(ctx context.Context, runID string) ([]store.QuarantineCount, error) {
	if _, err := s.store.Run(ctx, runID); err != nil {
		return nil, s.fail(ctx, err)
	}
	counts, err := s.store.QuarantineCounts(ctx, runID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return counts, nil
}
