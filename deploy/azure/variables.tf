variable "name_prefix" {
  description = "Short prefix of every resource name (letters and digits)."
  type        = string
  default     = "sharepack"
}

variable "environment" {
  description = "Deployment stage, part of every name: dev, test or prod."
  type        = string
  default     = "prod"
}

variable "location" {
  description = "Azure region."
  type        = string
  default     = "westeurope"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "image_registry" {
  description = "Registry server holding the images, e.g. myregistry.azurecr.io (pulled with the app identity)."
  type        = string
}

variable "image_tag" {
  description = "The release to run: the tag of sharepack-api and sharepack-worker (the sync service runs the worker image). Changing it is a release; setting the previous tag back is a rollback."
  type        = string
}

variable "allowed_workspace_urls" {
  description = "Seed setting allowed_workspace_urls: the Databricks workspaces share packs may target."
  type        = list(string)

  validation {
    condition     = length(var.allowed_workspace_urls) > 0
    error_message = "At least one workspace URL is needed: with an empty allow-list every upload is refused."
  }
}

variable "databricks_client_id" {
  description = "Application (client) id of the Databricks service principal (seed setting azure_client_id)."
  type        = string
}

variable "databricks_client_secret" {
  description = "Its client secret; stored in Key Vault and read by the API, worker and sync through their identity."
  type        = string
  sensitive   = true
}

variable "activation_link_keys" {
  description = "Seed setting activation_link_keys: Fernet keys, newest first, comma separated (the API, worker and sync read them). Stored in Key Vault."
  type        = string
  sensitive   = true

  validation {
    condition     = length(trimspace(var.activation_link_keys)) > 0
    error_message = "activation_link_keys is required: the worker refuses to start without a key for activation links."
  }
}

variable "graph_client_id" {
  description = "Application (client) id of the app registration that reads the Directory through Microsoft Graph (AD sync, upload validation)."
  type        = string
}

variable "graph_client_secret" {
  description = "Its client secret; stored in Key Vault and read by the API and sync."
  type        = string
  sensitive   = true
}

variable "smtp_host" {
  description = "Mail relay the sync service sends notifications through (seed setting smtp_host), e.g. smtp.office365.com."
  type        = string
}

variable "smtp_port" {
  description = "Its port (STARTTLS is always used)."
  type        = number
  default     = 587
}

variable "smtp_username" {
  description = "User the sync service authenticates to the relay as."
  type        = string
}

variable "smtp_password" {
  description = "Its password; stored in Key Vault and read by the sync service only."
  type        = string
  sensitive   = true
}

variable "notification_from" {
  description = "Sender address of notification mail (seed setting notification_from)."
  type        = string
}

variable "console_base_url" {
  description = "Where people open the console (https://, the API app's address or its custom domain): mails link to a pack's page under it."
  type        = string

  validation {
    condition     = startswith(var.console_base_url, "https://")
    error_message = "The console is served over HTTPS: give its https:// address."
  }
}

variable "operator_emails" {
  description = "Who is mailed when a sync job fails (seed setting operator_emails)."
  type        = list(string)

  validation {
    condition     = length(var.operator_emails) > 0
    error_message = "Name at least one operator: failed sync jobs are mailed to them."
  }
}

variable "postgres_entra_admin_object_id" {
  description = "Object id of the Entra group that administers PostgreSQL (maps identities to roles)."
  type        = string
}

variable "postgres_entra_admin_name" {
  description = "Display name of that group (its PostgreSQL role name)."
  type        = string
}

variable "api_keys" {
  description = "Seed setting api_keys: name=key pairs, comma separated. Stored in Key Vault."
  type        = string
  sensitive   = true

  validation {
    condition     = length(trimspace(var.api_keys)) > 0
    error_message = "api_keys is required: with no key every route answers 401."
  }
}

variable "secret_expiry" {
  description = "Expiry (RFC 3339) of the Key Vault secrets; rotate them before it."
  type        = string
  default     = "2027-12-31T00:00:00Z"
}

variable "azure_queue_name" {
  description = "Seed setting azure_queue_name."
  type        = string
  default     = "sharepack-processing"
}

variable "api_min_replicas" {
  description = "API replicas that always run (at least 2, so one can restart without an outage)."
  type        = number
  default     = 2

  validation {
    condition     = var.api_min_replicas >= 2
    error_message = "Run at least two API replicas."
  }
}

variable "api_max_replicas" {
  description = "API replicas at most (scaled on concurrent HTTP requests)."
  type        = number
  default     = 6
}

variable "worker_max_replicas" {
  description = "Worker replicas at most; KEDA scales from 1 on the queue length."
  type        = number
  default     = 10
}

variable "worker_messages_per_replica" {
  description = "Queue messages per worker replica before KEDA adds another (KEDA azure-queue queueLength)."
  type        = number
  default     = 5
}

variable "postgres_sku" {
  description = "PostgreSQL Flexible Server SKU."
  type        = string
  default     = "GP_Standard_D2ds_v5"
}

variable "postgres_storage_mb" {
  description = "PostgreSQL storage in MB."
  type        = number
  default     = 65536
}

variable "alert_email" {
  description = "Where Azure Monitor alerts are mailed."
  type        = string
}

variable "vnet_address_space" {
  description = "Address space of the virtual network (apps /23 and database /28 are carved from it)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "operator_ip_ranges" {
  description = "Public IP ranges (CIDR) of the operators who run Terraform; they write Key Vault secrets."
  type        = list(string)
  default     = []
}

variable "image_registry_resource_group" {
  description = "Resource group of the Azure Container Registry in image_registry; empty if the registry is elsewhere (then grant AcrPull yourself)."
  type        = string
  default     = ""
}
