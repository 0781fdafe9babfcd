package wfaudit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server answers every request with handler and records what it received.
type server struct {
	*httptest.Server
	calls  int32
	bodies chan map[string]interface{}
	auth   chan string
}

func newServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, call int32)) *server {
	t.Helper()
	s := &server{bodies: make(chan map[string]interface{}, 16), auth: make(chan string, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := atomic.AddInt32(&s.calls, 1)
		data, _ := io.ReadAll(r.Body)
		var body map[string]interface{}
		_ = json.Unmarshal(data, &body)
		s.bodies <- body
		s.auth <- r.Header.Get("Authorization")
		handler(w, r, call)
	}))
	t.Cleanup(s.Close)
	return s
}

func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

const stored = `{"ref": {"id": "s1", "workflow_id": "4711", "workflow_type": "CI", "content_hash": "ab", "tenant": null},
  "snapshot_id": "s1", "created": %t, "spooled": %t, "masked": 3}`

func request() TriggerRequest {
	return TriggerRequest{
		WorkflowID: "4711", WorkflowType: CI, PipelineID: "12",
		Config: map[string]interface{}{"dockerPassword": "example-docker-password-1"},
	}
}

func TestAuditSendsTheTriggerAndReadsEachSuccess(t *testing.T) {
	for _, tc := range []struct {
		status           int
		created, spooled bool
	}{{201, true, false}, {200, false, false}, {202, false, true}} {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int32) {
			if r.Method != http.MethodPost || r.URL.Path != "/api/v1/triggers" {
				answer(w, 404, `{"error": "wrong endpoint"}`)
				return
			}
			answer(w, tc.status, fmt.Sprintf(stored, tc.created, tc.spooled))
		})
		client := New(s.URL+"/", "tok-1")
		result, err := client.Audit(context.Background(), request())
		if err != nil {
			t.Fatalf("%d: %v", tc.status, err)
		}
		if result.StatusCode != tc.status || result.Created != tc.created || result.Spooled != tc.spooled {
			t.Fatalf("%d: got %+v", tc.status, result)
		}
		if result.Stored() != (tc.status != 202) || result.SnapshotID != "s1" || result.Ref.WorkflowID != "4711" || result.Masked != 3 {
			t.Fatalf("%d: got %+v", tc.status, result)
		}
		body := <-s.bodies
		if body["workflow_id"] != "4711" || body["workflow_type"] != "CI" || body["pipeline_id"] != "12" {
			t.Fatalf("sent %v", body)
		}
		for _, omitted := range []string{"labels", "attempt", "parent", "trigger_kind", "tenant", "format", "triggered_by"} {
			if _, ok := body[omitted]; ok {
				t.Fatalf("sent an empty %s: %v", omitted, body)
			}
		}
		if auth := <-s.auth; auth != "Bearer tok-1" {
			t.Fatalf("sent Authorization %q", auth)
		}
	}
}

func TestARefusalIsATypedErrorWithTheServersMessage(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int32) {
		answer(w, 409, `{"error": "snapshot CI/4711 exists with other content (kept as evidence)", "error_type": "SnapshotConflict"}`)
	})
	_, err := New(s.URL, "tok").Audit(context.Background(), request())
	var refused *Error
	if !errors.As(err, &refused) {
		t.Fatalf("not an *Error: %v", err)
	}
	if refused.StatusCode != 409 || !refused.Conflict() || refused.Temporary() || refused.Type != "SnapshotConflict" {
		t.Fatalf("got %+v", refused)
	}
	if !strings.Contains(err.Error(), "POST /api/v1/triggers: 409 SnapshotConflict: snapshot CI/4711 exists") {
		t.Fatalf("message %q", err)
	}
	if StatusCode(fmt.Errorf("wrapped: %w", err)) != 409 || StatusCode(errors.New("other")) != 0 {
		t.Fatal("StatusCode does not unwrap")
	}
	if atomic.LoadInt32(&s.calls) != 1 {
		t.Fatalf("a 409 was retried: %d calls", s.calls)
	}
}

func TestAnAnswerThatIsNotWfauditsIsNotQuoted(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int32) {
		w.WriteHeader(403)
		_, _ = io.WriteString(w, "<html>proxy says no: example-docker-password-1</html>")
	})
	_, err := New(s.URL, "tok").Audit(context.Background(), request())
	if StatusCode(err) != 403 || strings.Contains(err.Error(), "proxy") || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("got %v", err)
	}
}

func TestTemporaryAnswersAreRetriedThenSucceed(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, _ *http.Request, call int32) {
		switch call {
		case 1:
			answer(w, 503, `{"error": "the server is busy: retry later"}`)
		case 2:
			answer(w, 502, `not json`)
		default:
			answer(w, 201, fmt.Sprintf(stored, true, false))
		}
	})
	result, err := New(s.URL, "tok").Audit(context.Background(), request())
	if err != nil || result.StatusCode != 201 {
		t.Fatalf("got %+v, %v", result, err)
	}
	if atomic.LoadInt32(&s.calls) != 3 {
		t.Fatalf("%d calls", s.calls)
	}
	first, third := <-s.bodies, func() map[string]interface{} { <-s.bodies; return <-s.bodies }()
	if fmt.Sprint(first) != fmt.Sprint(third) {
		t.Fatalf("a retry sent another body: %v / %v", first, third)
	}
}

func TestRetriesStopAtMaxAttempts(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int32) {
		answer(w, 503, `{"error": "the store is down and the spool could not take it", "error_type": "StoreError"}`)
	})
	client := &Client{BaseURL: s.URL, MaxAttempts: 2}
	_, err := client.Audit(context.Background(), request())
	var refused *Error
	if !errors.As(err, &refused) || refused.StatusCode != 503 || !refused.Temporary() {
		t.Fatalf("got %v", err)
	}
	if atomic.LoadInt32(&s.calls) != 2 {
		t.Fatalf("%d calls", s.calls)
	}
}

func TestARetryAfterLongerThanTheTimeoutGivesUpAtOnce(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int32) {
		w.Header().Set("Retry-After", "30")
		answer(w, 503, `{"error": "busy"}`)
	})
	client := &Client{BaseURL: s.URL, Timeout: 2 * time.Second}
	started := time.Now()
	_, err := client.Audit(context.Background(), request())
	var refused *Error
	if !errors.As(err, &refused) || refused.RetryAfter != 30*time.Second {
		t.Fatalf("got %v", err)
	}
	if elapsed := time.Since(started); elapsed > time.Second {
		t.Fatalf("waited %v for a retry it could not make", elapsed)
	}
}

func TestAServerThatNeverAnswersCostsTheTimeoutAndNoMore(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	go func() { // accept and hold every connection, never answer
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	client := &Client{BaseURL: "http://" + listener.Addr().String(), Timeout: 500 * time.Millisecond}
	started := time.Now()
	_, err = client.Audit(context.Background(), request())
	elapsed := time.Since(started)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("not a deadline: %v", err)
	}
	if elapsed < 450*time.Millisecond || elapsed > 1500*time.Millisecond {
		t.Fatalf("took %v with a 500ms timeout", elapsed)
	}
	// The caller's own deadline wins when it is sooner.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	started = time.Now()
	if _, err := client.Audit(ctx, request()); err == nil || time.Since(started) > time.Second {
		t.Fatalf("the context's deadline was not kept: %v after %v", err, time.Since(started))
	}
}

func TestAServerThatIsDownIsAnErrorNotAPanic(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close()
	client := &Client{BaseURL: "http://" + address, Timeout: 2 * time.Second}
	if _, err := client.Audit(context.Background(), request()); err == nil || StatusCode(err) != 0 {
		t.Fatalf("got %v", err)
	}
	var nothing *Client
	if _, err := nothing.Audit(context.Background(), request()); err == nil {
		t.Fatal("a nil client did not fail")
	}
	if _, err := (&Client{}).RecordOutcome(context.Background(), Outcome{}); err == nil {
		t.Fatal("a client without BaseURL did not fail")
	}
}

type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("example-docker-password-1") }

type unencodable struct{}

func (unencodable) MarshalJSON() ([]byte, error) {
	return nil, errors.New("cannot encode example-docker-password-1")
}

func TestAConfigThatCannotBeEncodedIsAnErrorThatQuotesNothing(t *testing.T) {
	client := New("http://127.0.0.1:1", "tok")
	for _, config := range []interface{}{panicky{}, unencodable{}, func() {}} {
		bad := request()
		bad.Config = config
		_, err := client.Audit(context.Background(), bad)
		if err == nil || strings.Contains(err.Error(), "example-docker-password-1") {
			t.Fatalf("%T: got %v", config, err)
		}
	}
}

func TestPrintingARequestWithholdsItsConfig(t *testing.T) {
	restored := &RestoredRequest{WorkflowID: "4711-retry1", WorkflowType: CI, Attempt: 2,
		Config: json.RawMessage(`{"dockerPassword": "example-docker-password-1"}`)}
	result := RetriggerResult{Request: restored}
	for _, text := range []string{
		fmt.Sprint(request()), fmt.Sprintf("%+v", request()), fmt.Sprintf("%#v", request()),
		fmt.Sprint(restored), fmt.Sprintf("%+v", result), fmt.Sprintf("%#v", restored),
	} {
		if strings.Contains(text, "example-docker-password-1") {
			t.Fatalf("printed a secret: %s", text)
		}
	}
	var config map[string]string
	if err := restored.DecodeConfig(&config); err != nil || config["dockerPassword"] != "example-docker-password-1" {
		t.Fatalf("got %v, %v", config, err)
	}
}

func TestABatchAnswersEachItem(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int32) {
		if r.URL.Path != "/api/v1/triggers/batch" {
			answer(w, 404, `{"error": "wrong endpoint"}`)
			return
		}
		answer(w, 200, `{"results": [
			{"status": 201, "ref": {"id": "s1", "workflow_id": "1", "workflow_type": "CI", "content_hash": "ab", "tenant": null},
			 "snapshot_id": "s1", "created": true, "spooled": false, "masked": 0},
			{"status": 422, "error": "unknown workflow type", "error_type": "InvalidRequest"}]}`)
	})
	client := New(s.URL, "tok")
	results, err := client.AuditBatch(context.Background(), []TriggerRequest{request(), request()})
	if err != nil || len(results) != 2 {
		t.Fatalf("got %v, %v", results, err)
	}
	if results[0].Err != nil || results[0].StatusCode != 201 || !results[0].Created {
		t.Fatalf("first: %+v", results[0])
	}
	if results[1].Err == nil || results[1].Err.StatusCode != 422 || results[1].Err.Type != "InvalidRequest" {
		t.Fatalf("second: %+v", results[1])
	}
	if _, err := client.AuditBatch(context.Background(), make([]TriggerRequest, MaxBatch+1)); err == nil {
		t.Fatal("an oversize batch was sent")
	}
	if empty, err := client.AuditBatch(context.Background(), nil); err != nil || len(empty) != 0 {
		t.Fatalf("empty batch: %v, %v", empty, err)
	}
	// One request only: neither the oversize nor the empty batch was sent.
	if atomic.LoadInt32(&s.calls) != 1 {
		t.Fatalf("%d calls", s.calls)
	}
}

func TestOutcomesAndRetriggersUseTheirEndpointsAndTokens(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int32) {
		switch r.URL.Path {
		case "/api/v1/outcomes":
			answer(w, 200, `{"record": {"id": "s1", "workflow_id": "4711", "workflow_type": "CI", "status": "failed",
				"status_reason": "infrastructure: node lost", "attempt": 1, "labels": {}},
				"retry": {"retry": true, "reason": "retryable", "policy": "wfaudit.builtin.retry", "delay_seconds": 1.5}}`)
		case "/api/v1/retriggers":
			answer(w, 201, `{"dry_run": false, "parent": {"snapshot_id": "s1", "workflow_id": "4711"},
				"workflow_id": "4712", "attempt": 2, "snapshot_id": "s2", "refused": null,
				"request": {"workflow_id": "4712", "workflow_type": "CI", "attempt": 2, "config": {"dockerPassword": "x"}}}`)
		default:
			answer(w, 404, `{"error": "wrong endpoint"}`)
		}
	})
	client := &Client{BaseURL: s.URL, Token: "write-tok", RetriggerToken: "retrigger-tok"}
	outcome, err := client.RecordOutcome(context.Background(), Outcome{
		WorkflowID: "4711", WorkflowType: CI, Status: StatusFailed, Reason: "infrastructure: node lost"})
	if err != nil || outcome.Record.Status != "failed" || outcome.Retry == nil || !outcome.Retry.Retry ||
		outcome.Retry.Delay() != 1500*time.Millisecond {
		t.Fatalf("got %+v, %v", outcome, err)
	}
	if sent := <-s.bodies; sent["status"] != "failed" || sent["reason"] != "infrastructure: node lost" {
		t.Fatalf("sent %v", sent)
	}
	if auth := <-s.auth; auth != "Bearer write-tok" {
		t.Fatalf("outcome sent %q", auth)
	}
	plan, err := client.RetriggerRequest(context.Background(), Retrigger{
		WorkflowID: "4711", WorkflowType: CI, NewWorkflowID: "4712"})
	if err != nil || plan.StatusCode != 201 || plan.Request == nil || plan.Request.WorkflowID != "4712" || plan.Attempt != 2 {
		t.Fatalf("got %+v, %v", plan, err)
	}
	if sent := <-s.bodies; sent["dry_run"] != false || sent["new_workflow_id"] != "4712" {
		t.Fatalf("sent %v", sent)
	}
	if auth := <-s.auth; auth != "Bearer retrigger-tok" {
		t.Fatalf("retrigger sent %q", auth)
	}
}
