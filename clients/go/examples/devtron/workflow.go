package main

// The part of Devtron's CI WorkflowRequest (pkg/pipeline/types) that a CI
// trigger fills: the JSON Devtron hands its CI runner, and the request its own
// config-snapshot feature stores. Field names and JSON tags are Devtron's; the
// wfaudit devtron adapter reads workflowId, pipelineId, triggeredBy, appName and
// pipelineName from it, and wfaudit-maskers masks dockerPassword, accessKey,
// secretKey, blobStorageS3Config.accessKey/passkey and the git password.

// WorkflowRequest is Devtron's request of one CI run.
type WorkflowRequest struct {
	WorkflowNamePrefix          string               `json:"workflowNamePrefix"`
	PipelineName                string               `json:"pipelineName"`
	PipelineId                  int                  `json:"pipelineId"`
	WorkflowId                  int                  `json:"workflowId"`
	TriggeredBy                 int32                `json:"triggeredBy"`
	AppName                     string               `json:"appName"`
	AppId                       int                  `json:"appId"`
	Namespace                   string               `json:"namespace"`
	CiImage                     string               `json:"ciImage"`
	ActiveDeadlineSeconds       int64                `json:"activeDeadlineSeconds"`
	CiProjectDetails            []CiProjectDetails   `json:"ciProjectDetails"`
	DockerRegistryId            string               `json:"dockerRegistryId"`
	DockerRegistryType          string               `json:"dockerRegistryType"`
	DockerRegistryURL           string               `json:"dockerRegistryURL"`
	DockerRepository            string               `json:"dockerRepository"`
	DockerImageTag              string               `json:"dockerImageTag"`
	DockerUsername              string               `json:"dockerUsername"`
	DockerPassword              string               `json:"dockerPassword"`
	AwsRegion                   string               `json:"awsRegion"`
	AccessKey                   string               `json:"accessKey"`
	SecretKey                   string               `json:"secretKey"`
	CiCacheLocation             string               `json:"ciCacheLocation"`
	CiCacheRegion               string               `json:"ciCacheRegion"`
	CiCacheFileName             string               `json:"ciCacheFileName"`
	CiBuildConfig               *CiBuildConfig       `json:"ciBuildConfig"`
	BlobStorageConfigured       bool                 `json:"blobStorageConfigured"`
	CloudProvider               string               `json:"cloudProvider"`
	BlobStorageS3Config         *BlobStorageS3Config `json:"blobStorageS3Config"`
	DefaultAddressPoolBaseCidr  string               `json:"defaultAddressPoolBaseCidr"`
	PreCiSteps                  []*StepObject        `json:"preCiSteps"`
	PostCiSteps                 []*StepObject        `json:"postCiSteps"`
	RuntimeEnvironmentVariables map[string]string    `json:"runtimeEnvironmentVariables"`
	IsExtRun                    bool                 `json:"isExtRun"`
	Type                        string               `json:"type"`
}

// CiProjectDetails is one git material of the pipeline, at the commit built.
type CiProjectDetails struct {
	GitRepository   string     `json:"gitRepository"`
	MaterialName    string     `json:"materialName"`
	CheckoutPath    string     `json:"checkoutPath"`
	FetchSubmodules bool       `json:"fetchSubmodules"`
	CommitHash      string     `json:"commitHash"`
	GitTag          string     `json:"gitTag"`
	CommitTime      string     `json:"commitTime"`
	Type            string     `json:"type"`
	Message         string     `json:"message"`
	Author          string     `json:"author"`
	GitOptions      GitOptions `json:"gitOptions"`
	SourceType      string     `json:"sourceType"`
	SourceValue     string     `json:"sourceValue"`
}

// GitOptions holds the credentials the runner clones with.
type GitOptions struct {
	UserName      string `json:"userName"`
	Password      string `json:"password"`
	SshPrivateKey string `json:"sshPrivateKey"`
	AccessToken   string `json:"accessToken"`
	AuthMode      string `json:"authMode"`
}

// CiBuildConfig says how the image is built.
type CiBuildConfig struct {
	Id                int                `json:"id"`
	GitMaterialId     int                `json:"gitMaterialId"`
	CiBuildType       string             `json:"ciBuildType"`
	DockerBuildConfig *DockerBuildConfig `json:"dockerBuildConfig"`
}

// DockerBuildConfig is a Dockerfile build.
type DockerBuildConfig struct {
	DockerfilePath string            `json:"dockerfileRelativePath"`
	Args           map[string]string `json:"args"`
	TargetPlatform string            `json:"targetPlatform"`
}

// BlobStorageS3Config is where the runner ships its logs and cache.
type BlobStorageS3Config struct {
	AccessKey            string `json:"accessKey"`
	Passkey              string `json:"passkey"`
	EndpointUrl          string `json:"endpointUrl"`
	IsInSecure           bool   `json:"isInSecure"`
	CiLogBucketName      string `json:"ciLogBucketName"`
	CiLogRegion          string `json:"ciLogRegion"`
	CiCacheBucketName    string `json:"ciCacheBucketName"`
	CiCacheRegion        string `json:"ciCacheRegion"`
	CiArtifactBucketName string `json:"ciArtifactBucketName"`
	CiArtifactRegion     string `json:"ciArtifactRegion"`
}

// StepObject is a pre- or post-build step.
type StepObject struct {
	Name      string            `json:"name"`
	Index     int               `json:"index"`
	StepType  string            `json:"stepType"`
	Script    string            `json:"script"`
	InputVars []*VariableObject `json:"inputVars"`
}

// VariableObject is a step's input variable.
type VariableObject struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	Value  string `json:"value"`
}
