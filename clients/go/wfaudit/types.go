package wfaudit

import (
	"encoding/json"
	"fmt"
	"time"
)

// Workflow types wfaudit knows without plugins; an adapter may register more.
const (
	CI     = "CI"
	PreCD  = "PRE_CD"
	PostCD = "POST_CD"
)

// Trigger kinds (TriggerRequest.TriggerKind).
const (
	KindManual   = "manual"
	KindWebhook  = "webhook"
	KindSchedule = "schedule"
	KindRetry    = "retry"
)

// Outcome statuses (Outcome.Status).
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusError     = "error"
	StatusCancelled = "cancelled"
)

// FromPayload, given as WorkflowID or PipelineID, asks the server to read the id
// from the payload with the adapter that recognises it (a Devtron request's
// workflowId and pipelineId, a Tekton PipelineRun's metadata.uid), as
// `wfaudit trigger` does on the command line.
const FromPayload = "-"

// TriggerRequest is the body of POST /api/v1/triggers: the fields of wfaudit's
// TriggerRequest. Config is the whole request the workflow is launched with,
// secrets included: the server masks them before anything is written. Config
// may be any value encoding/json can encode (a struct such as Devtron's
// WorkflowRequest, a map, or a json.RawMessage).
type TriggerRequest struct {
	WorkflowID   string            `json:"workflow_id"`
	WorkflowType string            `json:"workflow_type"`
	PipelineID   string            `json:"pipeline_id"`
	TriggeredBy  string            `json:"triggered_by,omitempty"`
	Config       interface{}       `json:"config"`
	Format       string            `json:"format,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Parent       string            `json:"parent,omitempty"`
	Attempt      int               `json:"attempt,omitempty"`
	TriggerKind  string            `json:"trigger_kind,omitempty"`
	Tenant       string            `json:"tenant,omitempty"`
}

// String names the request without its config, which holds secrets: a
// TriggerRequest printed in a log line shows its identity only.
func (r TriggerRequest) String() string {
	return fmt.Sprintf("TriggerRequest{%s %s pipeline %s, config withheld}", r.WorkflowType, r.WorkflowID, r.PipelineID)
}

// GoString is String, so that %#v withholds the config too.
func (r TriggerRequest) GoString() string { return r.String() }

// SnapshotRef points at a stored snapshot.
type SnapshotRef struct {
	ID           string  `json:"id"`
	WorkflowID   string  `json:"workflow_id"`
	WorkflowType string  `json:"workflow_type"`
	ContentHash  string  `json:"content_hash"`
	Tenant       *string `json:"tenant"`
}

// Result is the answer to an audited trigger.
//
// StatusCode says what the server did: 201 stored (a new snapshot, committed),
// 200 already stored with the same content (a retry), 202 accepted into the
// server's durable spool because its store is down (Spooled is true; the drain
// stores it later). Every other status is an *Error.
type Result struct {
	StatusCode int          `json:"-"`
	Ref        *SnapshotRef `json:"ref"`
	SnapshotID string       `json:"snapshot_id"`
	Created    bool         `json:"created"`
	Spooled    bool         `json:"spooled"`
	Masked     int          `json:"masked"`
}

// Stored reports whether the snapshot is committed in the store (200 or 201),
// rather than only spooled (202).
func (r Result) Stored() bool { return r.StatusCode == 200 || r.StatusCode == 201 }

// BatchResult is one item's answer in a batch: a Result, or Err when the server
// refused that item (the others are not affected).
type BatchResult struct {
	Result
	Err *Error
}

// Outcome is the body of POST /api/v1/outcomes: how a run ended (or that it
// started running). Reason is free text read by the retry policies ("infrastructure:
// node lost", "tests failed: 3 of 812"); the server masks it like a config.
type Outcome struct {
	WorkflowID   string `json:"workflow_id"`
	WorkflowType string `json:"workflow_type"`
	Status       string `json:"status"`
	Reason       string `json:"reason,omitempty"`
	By           string `json:"by,omitempty"`
	Tenant       string `json:"tenant,omitempty"`
}

// Record is a stored snapshot's identity and state, without its config.
// CreatedOn and UpdatedOn are ISO 8601 timestamps.
type Record struct {
	ID           string            `json:"id"`
	WorkflowID   string            `json:"workflow_id"`
	WorkflowType string            `json:"workflow_type"`
	PipelineID   string            `json:"pipeline_id"`
	Tenant       *string           `json:"tenant"`
	ContentHash  string            `json:"content_hash"`
	Status       string            `json:"status"`
	StatusReason *string           `json:"status_reason"`
	Attempt      int               `json:"attempt"`
	Parent       *string           `json:"parent"`
	TriggerKind  string            `json:"trigger_kind"`
	TriggeredBy  *string           `json:"triggered_by"`
	Labels       map[string]string `json:"labels"`
	ConfigSize   int64             `json:"config_size"`
	CreatedOn    string            `json:"created_on"`
	UpdatedOn    string            `json:"updated_on"`
	UpdatedBy    *string           `json:"updated_by"`
	MaskedFields int               `json:"masked_fields"`
}

// RetryDecision is the retry policies' decision on a failed run.
type RetryDecision struct {
	Retry        bool    `json:"retry"`
	Reason       string  `json:"reason"`
	Policy       string  `json:"policy"`
	DelaySeconds float64 `json:"delay_seconds"`
}

// Delay is how long the policies suggest waiting before the retry.
func (d RetryDecision) Delay() time.Duration {
	return time.Duration(d.DelaySeconds * float64(time.Second))
}

// OutcomeResult is the answer to a recorded outcome: the run's record with its
// new status and, for a failure, the retry decision (nil when no policy voted).
type OutcomeResult struct {
	Record Record         `json:"record"`
	Retry  *RetryDecision `json:"retry"`
}

// Retrigger is the body of POST /api/v1/retriggers. With DryRun the server
// only plans; without it, it records the new run and hands back its restored
// request (secrets included). AcceptRotated names secret paths whose value
// changed since the run and may be used anyway.
type Retrigger struct {
	WorkflowID    string   `json:"workflow_id"`
	WorkflowType  string   `json:"workflow_type"`
	DryRun        bool     `json:"dry_run"`
	AcceptRotated []string `json:"accept_rotated,omitempty"`
	NewWorkflowID string   `json:"new_workflow_id,omitempty"`
	By            string   `json:"by,omitempty"`
	Tenant        string   `json:"tenant,omitempty"`
}

// PlanParent is the failed run a retrigger starts from.
type PlanParent struct {
	SnapshotID    string  `json:"snapshot_id"`
	WorkflowID    string  `json:"workflow_id"`
	WorkflowType  string  `json:"workflow_type"`
	PipelineID    string  `json:"pipeline_id"`
	Status        string  `json:"status"`
	Reason        *string `json:"reason"`
	SchemaVersion int     `json:"schema_version"`
	ContentHash   string  `json:"content_hash"`
}

// SecretCheck is what restoring found for one masked secret (never its value):
// State is matching, rotated, unverified, invalid or missing.
type SecretCheck struct {
	Key      string  `json:"key"`
	State    string  `json:"state"`
	Accepted bool    `json:"accepted"`
	Reason   *string `json:"reason"`
}

// RestoredRequest is a failed run's request with its secrets restored by the
// server, for the orchestrator to launch as the new run. Config holds secrets:
// hand it to the workflow engine, never to a log. String and GoString withhold
// it, so printing a RestoredRequest (or a RetriggerResult) shows no secret.
type RestoredRequest struct {
	WorkflowID       string            `json:"workflow_id"`
	WorkflowType     string            `json:"workflow_type"`
	PipelineID       string            `json:"pipeline_id"`
	TriggerKind      string            `json:"trigger_kind"`
	Attempt          int               `json:"attempt"`
	ParentSnapshotID *string           `json:"parent_snapshot_id"`
	ParentWorkflowID *string           `json:"parent_workflow_id"`
	TriggeredBy      *string           `json:"triggered_by"`
	Tenant           *string           `json:"tenant"`
	Labels           map[string]string `json:"labels"`
	Format           *string           `json:"format"`
	Config           json.RawMessage   `json:"config"`
}

// DecodeConfig decodes the restored config into v (for a Devtron orchestrator,
// its WorkflowRequest).
func (r *RestoredRequest) DecodeConfig(v interface{}) error {
	if err := json.Unmarshal(r.Config, v); err != nil {
		return fmt.Errorf("wfaudit: the restored config does not decode into %T (%T)", v, err)
	}
	return nil
}

// String names the restored request without its config.
func (r *RestoredRequest) String() string {
	if r == nil {
		return "RestoredRequest(nil)"
	}
	return fmt.Sprintf("RestoredRequest{%s %s attempt %d, config withheld}", r.WorkflowType, r.WorkflowID, r.Attempt)
}

// GoString is String, so that %#v withholds the config too.
func (r *RestoredRequest) GoString() string { return r.String() }

// RetriggerResult is the answer to POST /api/v1/retriggers.
//
// A dry run (StatusCode 200, DryRun true) is the plan: the new run's
// WorkflowID and Attempt, the retry limit, SecretChecks, and Refused, the
// secrets that would stop the retrigger. Otherwise StatusCode is 201 (the new
// run recorded, the plan's fields filled) or 200 (a retry of a retrigger whose
// answer was lost: the run recorded before, restored again), and Request is
// the restored request to launch.
type RetriggerResult struct {
	StatusCode     int              `json:"-"`
	DryRun         bool             `json:"dry_run"`
	Parent         *PlanParent      `json:"parent"`
	WorkflowID     string           `json:"workflow_id"`
	Attempt        int              `json:"attempt"`
	Retry          int              `json:"retry"`
	MaxRetries     int              `json:"max_retries"`
	LimitSource    string           `json:"limit_source"`
	Secrets        []string         `json:"secrets"`
	SecretChecks   []SecretCheck    `json:"secret_checks"`
	Plugins        []string         `json:"plugins"`
	MissingPlugins []string         `json:"missing_plugins"`
	Warnings       []string         `json:"warnings"`
	Refused        []string         `json:"refused"`
	SnapshotID     string           `json:"snapshot_id"`
	Request        *RestoredRequest `json:"request"`
}
