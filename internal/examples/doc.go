// Package examples checks the examples of docs/examples: the Argo
// Workflows WorkflowTemplates of the GourmetGram pipeline (against Argo's
// published JSON schema, with argo-lint-like reference checks, every mlship
// step's command line parsed by its tool, and applied to a real API server
// with Argo's CRD) and the Kubeflow Pipelines pipeline (against Kubeflow
// Pipelines' own pipeline_spec.proto). It holds only tests.
package examples
