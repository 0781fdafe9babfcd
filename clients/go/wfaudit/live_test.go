package wfaudit

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// The live tests run against the `wfaudit serve` at WFAUDIT_LIVE_URL, with the
// tokens of WFAUDIT_INGEST_TOKEN and WFAUDIT_RETRIGGER_TOKEN (tests/test_go_client.py
// starts one and checks the store afterwards); they are skipped without it.

const livePassword = "Go-live-Pa55word-Vx71"

func liveClient(t *testing.T) *Client {
	t.Helper()
	url := os.Getenv("WFAUDIT_LIVE_URL")
	if url == "" {
		t.Skip("WFAUDIT_LIVE_URL is not set: no live wfaudit serve to test against")
	}
	return &Client{
		BaseURL:        url,
		Token:          os.Getenv("WFAUDIT_INGEST_TOKEN"),
		RetriggerToken: os.Getenv("WFAUDIT_RETRIGGER_TOKEN"),
		Timeout:        60 * time.Second,
	}
}

func liveTrigger(id, workflowType string) TriggerRequest {
	return TriggerRequest{
		WorkflowID: id, WorkflowType: workflowType, PipelineID: "go-batch", TriggeredBy: "go-client",
		Labels: map[string]string{"branch": "main"},
		Config: map[string]interface{}{
			"image": "shop:1.4",
			"env":   map[string]string{"DB_PASSWORD": livePassword, "LOG_LEVEL": "info"},
		},
	}
}

func TestLiveBatchIsAnsweredPerItemAndIdempotent(t *testing.T) {
	client := liveClient(t)
	ctx := context.Background()
	batch := []TriggerRequest{liveTrigger("go-1", CI), liveTrigger("go-2", "NOPE"), liveTrigger("go-3", CI)}
	first, err := client.AuditBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if first[0].StatusCode != 201 || first[2].StatusCode != 201 || first[0].Masked < 1 {
		t.Fatalf("first batch: %+v", first)
	}
	if first[1].Err == nil || first[1].Err.StatusCode != 422 {
		t.Fatalf("the unknown type was not refused: %+v", first[1])
	}
	again, err := client.AuditBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		if again[i].StatusCode != 200 || again[i].Created || again[i].SnapshotID != first[i].SnapshotID {
			t.Fatalf("item %d again: %+v", i, again[i])
		}
	}
}

func TestLiveRefusalsAreTypedErrors(t *testing.T) {
	client := liveClient(t)
	ctx := context.Background()
	if _, err := client.Audit(ctx, liveTrigger("go-1", CI)); err != nil {
		t.Fatal(err)
	}
	changed := liveTrigger("go-1", CI)
	changed.Config = map[string]interface{}{"image": "shop:6.6"}
	_, err := client.Audit(ctx, changed)
	var refused *Error
	if !errors.As(err, &refused) || !refused.Conflict() || refused.Type != "SnapshotConflict" {
		t.Fatalf("a changed request: %v", err)
	}
	stranger := *client
	stranger.Token = "not-a-token-0123456789abcdef"
	if _, err := stranger.Audit(ctx, liveTrigger("go-9", CI)); StatusCode(err) != 401 {
		t.Fatalf("a wrong token: %v", err)
	}
	// The write token has no retrigger scope, and no scope implies it.
	writer := *client
	writer.RetriggerToken = ""
	if _, err := writer.RetriggerRequest(ctx, Retrigger{WorkflowID: "go-1", WorkflowType: CI, DryRun: true}); StatusCode(err) != 403 {
		t.Fatalf("a retrigger with the write token: %v", err)
	}
}

func TestLiveOutcomeAndRetriggerPlan(t *testing.T) {
	client := liveClient(t)
	ctx := context.Background()
	if _, err := client.Audit(ctx, liveTrigger("go-3", CI)); err != nil {
		t.Fatal(err)
	}
	outcome, err := client.RecordOutcome(ctx, Outcome{
		WorkflowID: "go-3", WorkflowType: CI, Status: StatusFailed, Reason: "infrastructure: node lost"})
	if err != nil {
		t.Fatal(err)
	}
	if outcome.Record.Status != StatusFailed || outcome.Record.WorkflowID != "go-3" || outcome.Retry == nil || !outcome.Retry.Retry {
		t.Fatalf("outcome: %+v", outcome)
	}
	if _, err := client.RecordOutcome(ctx, Outcome{WorkflowID: "go-404", WorkflowType: CI, Status: StatusFailed}); StatusCode(err) != 404 {
		t.Fatalf("an outcome of no run: %v", err)
	}
	plan, err := client.RetriggerRequest(ctx, Retrigger{WorkflowID: "go-3", WorkflowType: CI, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	// The server cannot restore DB_PASSWORD (not in its environment): the plan says so.
	if plan.StatusCode != 200 || !plan.DryRun || plan.Attempt != 2 || plan.Parent == nil || plan.Parent.WorkflowID != "go-3" {
		t.Fatalf("plan: %+v", plan)
	}
	if len(plan.Refused) != 1 || plan.Refused[0] != "/env/DB_PASSWORD" || plan.Request != nil {
		t.Fatalf("plan: %+v", plan)
	}
	_, err = client.RetriggerRequest(ctx, Retrigger{WorkflowID: "go-3", WorkflowType: CI})
	if StatusCode(err) != 422 {
		t.Fatalf("a retrigger whose secret cannot be restored: %v", err)
	}
}
