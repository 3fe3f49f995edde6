"""Names of the cluster resources the pipeline, the training jobs and k8s/base share."""

DATA_CLAIM = "tryon-data"  # datasets, read-only for training
MODELS_CLAIM = "tryon-models"  # training runs and the serving model store
DATA_MOUNT = "/mnt/data"
MODELS_MOUNT = "/mnt/models"
S3_SECRET = "tryon-s3"  # created by the cluster's operator; never committed
S3_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
GPU_RESOURCE = "nvidia.com/gpu"
PIPELINE_SERVICE_ACCOUNT = "tryon-pipeline"
