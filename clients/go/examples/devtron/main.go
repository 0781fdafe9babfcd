// Command devtron is Devtron's CI trigger path with wfaudit: it builds a CI
// WorkflowRequest, audits it through the ingest API before launching it (the
// non-blocking policy: an audit failure is logged and the trigger goes on),
// records how the run ended and, when the retry policies vote for a retry,
// launches the failed run again from its snapshot with the secrets restored by
// the server (Devtron's reTriggerCiFromSnapshot with
// GetWorkflowRequestFromSnapshotForRetrigger).
//
// "Launching" here writes the request the CI runner would get to
// -launch-dir/<workflowId>.json (mode 0600): it holds secrets, like the
// runner's input.
//
// Usage:
//
//	WFAUDIT_URL=http://127.0.0.1:8080 WFAUDIT_INGEST_TOKEN=... WFAUDIT_RETRIGGER_TOKEN=... \
//	    devtron -workflow-id 4711 -outcome failed -reason "infrastructure: node lost" -launch-dir /tmp/runs
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"wfaudit/clients/go/wfaudit"
)

// systemUser is Devtron's SYSTEM_USER_ID: retriggers are triggered by it.
const systemUser = 1

// handler is the slice of Devtron's CI trigger handler this example needs.
type handler struct {
	audit     *wfaudit.Client
	launchDir string
	logger    *log.Logger
}

// recipe:start

// triggerCiPipeline audits the request, then launches the run whatever the
// audit's fate: the client returns within its timeout, with an error to log.
func (h *handler) triggerCiPipeline(ctx context.Context, request *WorkflowRequest) error {
	result, err := h.audit.Audit(ctx, wfaudit.TriggerRequest{
		WorkflowID:   wfaudit.FromPayload, // read by the devtron adapter: workflowId
		WorkflowType: wfaudit.CI,
		PipelineID:   wfaudit.FromPayload, // pipelineId
		Config:       request,             // secrets included: masked on the server
		Format:       "devtron",
	})
	switch {
	case err != nil:
		h.logger.Printf("audit failed, the trigger goes on: %v", err)
	case result.Spooled:
		h.logger.Printf("audit: CI %d spooled by the server (%d): its store is down", request.WorkflowId, result.StatusCode)
	default:
		h.logger.Printf("audit: CI %d stored as snapshot %s (%d, %d secrets masked)",
			request.WorkflowId, result.SnapshotID, result.StatusCode, result.Masked)
	}
	return h.executeCiPipeline(request)
}

// onCiWorkflowEnd records how the run ended; when the retry policies vote for
// a retry, the run is launched again from its snapshot.
func (h *handler) onCiWorkflowEnd(ctx context.Context, request *WorkflowRequest, status, reason string) error {
	id := strconv.Itoa(request.WorkflowId)
	outcome, err := h.audit.RecordOutcome(ctx, wfaudit.Outcome{
		WorkflowID: id, WorkflowType: wfaudit.CI, Status: status, Reason: reason, By: "devtron",
	})
	if err != nil {
		h.logger.Printf("outcome not recorded (the run is not affected): %v", err)
		return nil
	}
	h.logger.Printf("outcome: CI %s %s", id, outcome.Record.Status)
	if outcome.Retry == nil || !outcome.Retry.Retry {
		return nil
	}
	time.Sleep(outcome.Retry.Delay())
	return h.reTriggerCiFromSnapshot(ctx, request.WorkflowId, request.WorkflowId+1)
}

// reTriggerCiFromSnapshot launches a failed run again as newWorkflowId, from
// the request its snapshot recorded, with the secrets restored by the server.
func (h *handler) reTriggerCiFromSnapshot(ctx context.Context, failedId, newWorkflowId int) error {
	answer, err := h.audit.RetriggerRequest(ctx, wfaudit.Retrigger{
		WorkflowID:    strconv.Itoa(failedId),
		WorkflowType:  wfaudit.CI,
		NewWorkflowID: strconv.Itoa(newWorkflowId),
		By:            "devtron",
	})
	if err != nil {
		return fmt.Errorf("retrigger of CI %d refused: %w", failedId, err)
	}
	var request WorkflowRequest
	if err := answer.Request.DecodeConfig(&request); err != nil {
		return err
	}
	request.WorkflowId = newWorkflowId
	request.TriggeredBy = systemUser
	h.logger.Printf("retrigger: CI %d -> %d (attempt %d)", failedId, newWorkflowId, answer.Request.Attempt)
	return h.executeCiPipeline(&request)
}

// recipe:end

// executeCiPipeline stands for submitting the run to the cluster: it writes the
// runner's input, which holds secrets, to a private file.
func (h *handler) executeCiPipeline(request *WorkflowRequest) error {
	if h.launchDir != "" {
		data, err := json.MarshalIndent(request, "", "  ")
		if err != nil {
			return err
		}
		path := filepath.Join(h.launchDir, strconv.Itoa(request.WorkflowId)+".json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
	}
	h.logger.Printf("launched CI workflow %d", request.WorkflowId)
	return nil
}

// newCiWorkflowRequest builds the request of one CI run of the checkout-api
// app, as Devtron's trigger does from its pipeline, git material and registry.
func newCiWorkflowRequest(workflowId int) *WorkflowRequest {
	return &WorkflowRequest{
		WorkflowNamePrefix:    fmt.Sprintf("%d-ci-12-checkout-api", workflowId),
		PipelineName:          "ci-12-checkout-api",
		PipelineId:            12,
		WorkflowId:            workflowId,
		TriggeredBy:           7,
		AppName:               "checkout-api",
		AppId:                 31,
		Namespace:             "devtron-ci",
		CiImage:               "quay.io/devtron/ci-runner:1290cfb6-138-21450",
		ActiveDeadlineSeconds: 3600,
		CiProjectDetails: []CiProjectDetails{{
			GitRepository: "https://github.com/example-org/checkout-api.git",
			MaterialName:  "1-checkout-api",
			CheckoutPath:  "./",
			CommitHash:    "9b1d3f0c2a4e6b8d0f1a3c5e7b9d1f3a5c7e9b1d",
			CommitTime:    "2026-11-20T08:02:11Z",
			Type:          "SOURCE_TYPE_BRANCH_FIXED",
			Message:       "Validate coupon codes before tax",
			Author:        "Ana Lima <ana@example.org>",
			GitOptions: GitOptions{
				UserName: "ci-bot",
				Password: "example-git-password-1",
				AuthMode: "USERNAME_PASSWORD",
			},
			SourceType:  "SOURCE_TYPE_BRANCH_FIXED",
			SourceValue: "main",
		}},
		DockerRegistryId:   "docker-hub",
		DockerRegistryType: "docker-hub",
		DockerRegistryURL:  "docker.io",
		DockerRepository:   "example/checkout-api",
		DockerImageTag:     fmt.Sprintf("9b1d3f0c-%d", workflowId),
		DockerUsername:     "example",
		DockerPassword:     "example-docker-password-1",
		CiCacheLocation:    "devtron-ci-cache",
		CiCacheRegion:      "eu-west-1",
		CiCacheFileName:    "ci-12-checkout-api.tar.gz",
		CiBuildConfig: &CiBuildConfig{
			Id:            9,
			GitMaterialId: 1,
			CiBuildType:   "self-dockerfile-build",
			DockerBuildConfig: &DockerBuildConfig{
				DockerfilePath: "Dockerfile",
				Args:           map[string]string{"GO_VERSION": "1.23"},
				TargetPlatform: "linux/amd64",
			},
		},
		BlobStorageConfigured: true,
		CloudProvider:         "S3",
		BlobStorageS3Config: &BlobStorageS3Config{
			AccessKey:         "AKIAEXAMPLEEXAMPLE01",
			Passkey:           "exampleBlobPasskey/ExampleExampleExample01",
			EndpointUrl:       "https://s3.eu-west-1.amazonaws.com",
			CiLogBucketName:   "devtron-ci-logs",
			CiLogRegion:       "eu-west-1",
			CiCacheBucketName: "devtron-ci-cache",
			CiCacheRegion:     "eu-west-1",
		},
		DefaultAddressPoolBaseCidr: "",
		PreCiSteps: []*StepObject{{
			Name: "unit-tests", Index: 1, StepType: "INLINE", Script: "make test",
			InputVars: []*VariableObject{{Name: "GO_VERSION", Format: "STRING", Value: "1.23"}},
		}},
		PostCiSteps:                 []*StepObject{},
		RuntimeEnvironmentVariables: map[string]string{"LOG_LEVEL": "info"},
		Type:                        "CI",
	}
}

func main() {
	workflowId := flag.Int("workflow-id", 4711, "the CI workflow's id (Devtron's ci_workflow.id)")
	timeout := flag.Duration("timeout", 5*time.Second, "the most one wfaudit call may take")
	status := flag.String("outcome", wfaudit.StatusSucceeded, "how the run ends: succeeded, failed, error, cancelled")
	reason := flag.String("reason", "", "why it ended so (read by the retry policies)")
	launchDir := flag.String("launch-dir", "", "write each launched request to DIR/<workflowId>.json")
	flag.Parse()

	logger := log.New(os.Stderr, "devtron: ", 0)
	h := &handler{
		audit: &wfaudit.Client{
			BaseURL:        os.Getenv("WFAUDIT_URL"),
			Token:          os.Getenv("WFAUDIT_INGEST_TOKEN"),
			RetriggerToken: os.Getenv("WFAUDIT_RETRIGGER_TOKEN"),
			Timeout:        *timeout,
		},
		launchDir: *launchDir,
		logger:    logger,
	}
	ctx := context.Background()
	request := newCiWorkflowRequest(*workflowId)
	if err := h.triggerCiPipeline(ctx, request); err != nil {
		logger.Fatalf("launch failed: %v", err)
	}
	if err := h.onCiWorkflowEnd(ctx, request, *status, *reason); err != nil {
		logger.Fatalf("%v", err)
	}
}
