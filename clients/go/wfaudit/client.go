// Package wfaudit is a client of the wfaudit ingest API (`wfaudit serve`): an
// orchestrator written in Go audits its workflow triggers, records how its runs
// end, and gets a failed run's request back with its secrets restored, over
// HTTP. It uses the standard library only.
//
// # Non-blocking policy
//
// Auditing must never slow down or break a trigger. Every call is bounded by
// Client.Timeout (retries included) and by the context's deadline, whichever
// comes first; it never panics; and it returns an error for the caller to log,
// then go on launching the workflow:
//
//	result, err := client.Audit(ctx, request)
//	if err != nil {
//		log.Printf("wfaudit: audit failed (the trigger goes on): %v", err)
//	}
//	launch(request)
//
// An answer of the server is an *Error (errors.As), with the HTTP status and the
// server's {"error": ..., "error_type": ...} message, which never quotes the
// request. A network failure or the timeout is returned wrapped (errors.Is(err,
// context.DeadlineExceeded) for the timeout).
//
// A 2xx means durable: 201 stored, 200 already stored (the same run with the
// same content), 202 spooled on the server because its store is down (the
// server's drain stores it later). So every call may be retried safely: the
// client itself retries a failed connection and the statuses 408, 429, 502, 503
// and 504, up to MaxAttempts and within the timeout, honouring Retry-After.
package wfaudit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// DefaultTimeout bounds a call when Client.Timeout is zero.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxAttempts is the number of tries of a call when Client.MaxAttempts is zero.
	DefaultMaxAttempts = 3
	// MaxBatch is the most triggers one AuditBatch may send (the server's limit).
	MaxBatch = 1000
	// maxAnswer bounds the answer read (a restored request is at most the
	// server's max_body_bytes, 16 MiB by default, escaped as JSON).
	maxAnswer = 64 << 20
	userAgent = "wfaudit-go/1"
)

// Client calls one wfaudit server. Its zero values are usable defaults; a
// Client is safe for concurrent use once configured.
type Client struct {
	// BaseURL is the server's address, e.g. "http://wfaudit.wfaudit.svc:8080".
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>": a token with the
	// write scope (WFAUDIT_INGEST_TOKEN on the server).
	Token string
	// RetriggerToken, when set, is sent instead of Token by RetriggerRequest:
	// a token with the retrigger scope (WFAUDIT_RETRIGGER_TOKEN), which no
	// other scope implies.
	RetriggerToken string
	// Timeout bounds each call, retries included (DefaultTimeout when zero).
	Timeout time.Duration
	// MaxAttempts is how many times a call is tried (DefaultMaxAttempts when
	// zero; 1 disables retries).
	MaxAttempts int
	// HTTPClient sends the requests (http.DefaultClient when nil). Its own
	// Timeout, if any, applies to each attempt.
	HTTPClient *http.Client
	// UserAgent is sent as the User-Agent header ("wfaudit-go/1" when empty).
	UserAgent string
}

// New returns a Client of the server at baseURL with a write token.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: baseURL, Token: token}
}

// Error is the server's refusal of a request (any status other than 200, 201,
// 202, and 204 for a CloudEvent): StatusCode with the server's message.
//
// The statuses: 400 the body is not JSON; 401 a missing or wrong token; 403 a
// token without the scope, or writing into another tenant; 404 no such run;
// 408 the body did not arrive in time; 409 the same run with other content
// (kept as evidence on the server); 413 too large; 422 not a valid request (a
// missing field, an unknown workflow type, a retrigger that cannot run); 503
// the store is down and the spool cannot take it, or the server is busy.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's "error": it never quotes the request.
	Message string
	// Type is the server's "error_type" (e.g. "SnapshotConflict"), when given.
	Type string
	// RetryAfter is the server's Retry-After, when given (503).
	RetryAfter time.Duration
	// Endpoint is the request, e.g. "POST /api/v1/triggers".
	Endpoint string
}

func (e *Error) Error() string {
	kind := ""
	if e.Type != "" {
		kind = " " + e.Type
	}
	return fmt.Sprintf("wfaudit: %s: %d%s: %s", e.Endpoint, e.StatusCode, kind, e.Message)
}

// Temporary reports whether trying again later may succeed (408, 429, 5xx).
func (e *Error) Temporary() bool {
	return e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// Conflict reports whether the server refused the same run with other
// content (409).
func (e *Error) Conflict() bool { return e.StatusCode == http.StatusConflict }

// StatusCode is the HTTP status of err when it is (or wraps) an *Error, else 0.
func StatusCode(err error) int {
	var refused *Error
	if errors.As(err, &refused) {
		return refused.StatusCode
	}
	return 0
}

// Audit sends one trigger (POST /api/v1/triggers). The Result's StatusCode is
// 201, 200 or 202; any other answer is an *Error.
func (c *Client) Audit(ctx context.Context, request TriggerRequest) (result Result, err error) {
	defer recovered("Audit", &err)
	status, err := c.call(ctx, "/api/v1/triggers", c.token(false), request, &result)
	result.StatusCode = status
	if err != nil {
		return Result{}, err
	}
	return result, nil
}

// AuditBatch sends up to MaxBatch triggers in one request (POST
// /api/v1/triggers/batch). The answer has one BatchResult per request, in
// order; a refused item has its Err set and never fails the others. The error
// is for the batch as a whole (not sent, refused, or timed out).
func (c *Client) AuditBatch(ctx context.Context, requests []TriggerRequest) (results []BatchResult, err error) {
	defer recovered("AuditBatch", &err)
	if len(requests) > MaxBatch {
		return nil, fmt.Errorf("wfaudit: a batch holds at most %d triggers, not %d", MaxBatch, len(requests))
	}
	if len(requests) == 0 {
		return []BatchResult{}, nil
	}
	var answer struct {
		Results []json.RawMessage `json:"results"`
	}
	const endpoint = "/api/v1/triggers/batch"
	if _, err := c.call(ctx, endpoint, c.token(false), requests, &answer); err != nil {
		return nil, err
	}
	if len(answer.Results) != len(requests) {
		return nil, fmt.Errorf("wfaudit: POST %s: %d results for %d triggers", endpoint, len(answer.Results), len(requests))
	}
	results = make([]BatchResult, len(answer.Results))
	for i, raw := range answer.Results {
		var item struct {
			Result
			Status    int    `json:"status"`
			Error     string `json:"error"`
			ErrorType string `json:"error_type"`
		}
		if err := json.Unmarshal(raw, &item); err != nil {
			return nil, fmt.Errorf("wfaudit: POST %s: result %d is not a wfaudit answer (%T)", endpoint, i, err)
		}
		if item.Status == 200 || item.Status == 201 || item.Status == 202 {
			item.Result.StatusCode = item.Status
			results[i] = BatchResult{Result: item.Result}
			continue
		}
		results[i] = BatchResult{Err: &Error{
			StatusCode: item.Status,
			Message:    item.Error,
			Type:       item.ErrorType,
			Endpoint:   fmt.Sprintf("POST %s [%d]", endpoint, i),
		}}
	}
	return results, nil
}

// RecordOutcome records how a run ended, or that it is running (POST
// /api/v1/outcomes). For a failure the answer carries the retry decision.
// Outcomes are not spooled by the server: with its store down the answer is a
// 503 *Error, to retry later.
func (c *Client) RecordOutcome(ctx context.Context, outcome Outcome) (result OutcomeResult, err error) {
	defer recovered("RecordOutcome", &err)
	if _, err := c.call(ctx, "/api/v1/outcomes", c.token(false), outcome, &result); err != nil {
		return OutcomeResult{}, err
	}
	return result, nil
}

// RetriggerRequest plans a retrigger of a failed run (DryRun), or records the
// new run and returns its request with the secrets restored on the server, to
// launch (Devtron's GetWorkflowRequestFromSnapshotForRetrigger). It sends
// RetriggerToken when set. Asking again for the same run answers the same
// recorded retry (200), so a lost answer is safe to retry. A run that cannot
// be retriggered (a secret not restorable, retries exhausted) is a 422 *Error
// naming the secrets' paths, never their values.
func (c *Client) RetriggerRequest(ctx context.Context, retrigger Retrigger) (result RetriggerResult, err error) {
	defer recovered("RetriggerRequest", &err)
	status, err := c.call(ctx, "/api/v1/retriggers", c.token(true), retrigger, &result)
	if err != nil {
		return RetriggerResult{}, err
	}
	result.StatusCode = status
	return result, nil
}

// recovered turns a panic (a Config whose MarshalJSON panics, say) into an
// error naming its type only: the non-blocking policy never lets the audit
// crash the trigger.
func recovered(operation string, err *error) {
	if caught := recover(); caught != nil {
		*err = fmt.Errorf("wfaudit: %s failed: a panic (%T) was recovered", operation, caught)
	}
}

func (c *Client) token(retrigger bool) string {
	if retrigger && c.RetriggerToken != "" {
		return c.RetriggerToken
	}
	return c.Token
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Client) attempts() int {
	if c.MaxAttempts > 0 {
		return c.MaxAttempts
	}
	return DefaultMaxAttempts
}

// encodeError withholds the encoder's message, which may quote the value.
type encodeError struct{ err error }

func (e *encodeError) Error() string {
	return fmt.Sprintf("wfaudit: the request cannot be encoded as JSON (%T)", e.err)
}

func (e *encodeError) Unwrap() error { return e.err }

// call POSTs body as JSON to path, with retries, within the timeout, and
// decodes a 2xx answer into answer. It returns the final status.
func (c *Client) call(ctx context.Context, path, token string, body, answer interface{}) (int, error) {
	if c == nil {
		return 0, errors.New("wfaudit: the client is nil")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if c.BaseURL == "" {
		return 0, errors.New("wfaudit: the client has no BaseURL")
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return 0, &encodeError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	endpoint := "POST " + path
	url := strings.TrimRight(c.BaseURL, "/") + path
	var last error
	for attempt := 1; ; attempt++ {
		status, data, retryAfter, err := c.send(ctx, url, token, payload)
		if err == nil && status >= 200 && status < 300 {
			if status == http.StatusNoContent || answer == nil {
				return status, nil
			}
			if err := json.Unmarshal(data, answer); err != nil {
				return status, fmt.Errorf("wfaudit: %s: the answer is not a wfaudit answer (%T)", endpoint, err)
			}
			return status, nil
		}
		if err != nil {
			last = fmt.Errorf("wfaudit: %s: %w", endpoint, err)
		} else {
			last = refusal(endpoint, status, data, retryAfter)
		}
		if ctx.Err() != nil || attempt >= c.attempts() || !retryable(status, err) {
			return status, last
		}
		wait := backoff(attempt)
		if retryAfter > wait {
			wait = retryAfter
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return status, last // the wait would outlast the timeout: give up now
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return status, last
		case <-timer.C:
		}
	}
}

// send makes one attempt: the status, the answer's bytes and its Retry-After.
func (c *Client) send(ctx context.Context, url, token string, payload []byte) (int, []byte, time.Duration, error) {
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, 0, err
	}
	request.Header.Set("Content-Type", "application/json")
	request.Header.Set("Accept", "application/json")
	agent := c.UserAgent
	if agent == "" {
		agent = userAgent
	}
	request.Header.Set("User-Agent", agent)
	if token != "" {
		request.Header.Set("Authorization", "Bearer "+token)
	}
	httpClient := c.HTTPClient
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	response, err := httpClient.Do(request)
	if err != nil {
		return 0, nil, 0, err
	}
	defer response.Body.Close()
	data, err := io.ReadAll(io.LimitReader(response.Body, maxAnswer+1))
	if err != nil {
		return 0, nil, 0, err
	}
	if len(data) > maxAnswer {
		return response.StatusCode, nil, 0, fmt.Errorf("the answer is over %d bytes", maxAnswer)
	}
	return response.StatusCode, data, retryAfterOf(response.Header.Get("Retry-After")), nil
}

// refusal is the *Error of a non-2xx answer.
func refusal(endpoint string, status int, data []byte, retryAfter time.Duration) *Error {
	var body struct {
		Error     string `json:"error"`
		ErrorType string `json:"error_type"`
	}
	refused := &Error{StatusCode: status, RetryAfter: retryAfter, Endpoint: endpoint}
	if json.Unmarshal(data, &body) == nil && body.Error != "" {
		refused.Message, refused.Type = body.Error, body.ErrorType
	} else {
		// Not wfaudit's JSON (a proxy's page): its text is not quoted.
		refused.Message = strings.ToLower(http.StatusText(status)) + " (the answer is not a wfaudit error)"
	}
	return refused
}

// retryable says whether a failed attempt may be tried again: a failed
// connection (not the caller's deadline), or a status that says "later".
func retryable(status int, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && status == 0
	}
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff is the wait before attempt+1: 100 ms doubling, capped at 2 s, with
// jitter so that many clients do not retry in step.
func backoff(attempt int) time.Duration {
	base := 100 * time.Millisecond << uint(attempt-1)
	if base > 2*time.Second || base <= 0 {
		base = 2 * time.Second
	}
	return base/2 + time.Duration(rand.Int63n(int64(base/2)+1))
}

// retryAfterOf reads a Retry-After header given in seconds (0 when absent or
// given as a date), capped at one minute.
func retryAfterOf(value string) time.Duration {
	seconds, err := strconv.Atoi(strings.TrimSpace(value))
	if err != nil || seconds <= 0 {
		return 0
	}
	if seconds > 60 {
		seconds = 60
	}
	return time.Duration(seconds) * time.Second
}
