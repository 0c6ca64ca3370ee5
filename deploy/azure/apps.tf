# The Container Apps environment and the four apps of one release (all run `var.image_tag`):
#   api      ingress, at least 2 replicas, scaled on concurrent requests
#   worker   0..N replicas, scaled by KEDA's azure-queue scaler on the provisioning queue's length
#   sync     exactly 1 replica (its jobs must not run twice): the worker image, command `python -m sync`
#   migrate  a Container Apps job, started by hand before each release: `alembic upgrade head`
resource "azurerm_container_app_environment" "main" {
  name                       = "cae-${local.name}"
  location                   = azurerm_resource_group.main.location
  resource_group_name        = azurerm_resource_group.main.name
  log_analytics_workspace_id = azurerm_log_analytics_workspace.main.id
  infrastructure_subnet_id   = azurerm_subnet.apps.id
  zone_redundancy_enabled    = true
  tags                       = local.tags

  workload_profile {
    name                  = "Consumption"
    workload_profile_type = "Consumption"
  }
}

locals {
  # What each app is configured with. shared/platform/settings_contract.py declares what each process requires and
  # reads, and tests/unit/deploy/test_settings_contract.py holds app_env and app_secret_env to it.
  common_env = {
    ENABLE_WORKFLOW                       = "true"
    DEPLOYMENT                            = "production"
    ALLOWED_WORKSPACE_URLS                = join(",", var.allowed_workspace_urls)
    LOG_FORMAT                            = "json"
    APPLICATIONINSIGHTS_CONNECTION_STRING = azurerm_application_insights.main.connection_string
  }
  # The provisioning queue (its connection string is in Key Vault). Not the sync service's: with
  # QUEUE_BACKEND=azure and no connection string a process refuses to start.
  queue_env = {
    QUEUE_BACKEND    = "azure"
    AZURE_QUEUE_NAME = var.azure_queue_name
  }
  # The Databricks service principal (its secret is in Key Vault); its tenant is also the Directory's.
  databricks_env = {
    AZURE_CLIENT_ID = var.databricks_client_id
    AZURE_TENANT_ID = data.azurerm_client_config.current.tenant_id
  }
  # Microsoft Graph: AD sync, upload validation and the groups overage (the secret is in Key Vault).
  graph_env = {
    GRAPH_CLIENT_ID = var.graph_client_id
  }
  api_env = {
    WEB_CONCURRENCY = "2"
  }
  worker_env = {
    METRICS_PORT = "9102"
  }
  sync_env = {
    METRICS_PORT      = "9103"
    SMTP_HOST         = var.smtp_host
    SMTP_PORT         = tostring(var.smtp_port)
    SMTP_USERNAME     = var.smtp_username
    SMTP_STARTTLS     = "true"
    NOTIFICATION_FROM = var.notification_from
    OPERATOR_EMAILS   = join(",", var.operator_emails)
    CONSOLE_BASE_URL  = var.console_base_url
  }
  migrate_env = {
    DEPLOYMENT = "production"
    LOG_FORMAT = "json"
  }
  app_env = {
    api     = merge(local.common_env, local.queue_env, local.databricks_env, local.graph_env, local.api_env)
    worker  = merge(local.common_env, local.queue_env, local.databricks_env, local.worker_env)
    sync    = merge(local.common_env, local.databricks_env, local.graph_env, local.sync_env)
    migrate = merge(local.migrate_env)
  }
  # Secret settings: variable => Key Vault secret. It is also exactly what each app's identity may read.
  app_secret_env = {
    api = {
      DOMAIN_DB_CONNECTION_STRING   = "database-url-api"
      AZURE_QUEUE_CONNECTION_STRING = "azure-queue-connection-string"
      API_KEYS                      = "api-keys"
      CONSOLE_SECRET_KEY            = "console-secret-key"
      AZURE_CLIENT_SECRET           = "databricks-client-secret"
      ACTIVATION_LINK_KEYS          = "activation-link-keys"
      GRAPH_CLIENT_SECRET           = "graph-client-secret"
    }
    worker = {
      DOMAIN_DB_CONNECTION_STRING   = "database-url-worker"
      AZURE_QUEUE_CONNECTION_STRING = "azure-queue-connection-string"
      AZURE_CLIENT_SECRET           = "databricks-client-secret"
      ACTIVATION_LINK_KEYS          = "activation-link-keys"
    }
    sync = {
      DOMAIN_DB_CONNECTION_STRING = "database-url-sync"
      AZURE_CLIENT_SECRET         = "databricks-client-secret"
      ACTIVATION_LINK_KEYS        = "activation-link-keys"
      GRAPH_CLIENT_SECRET         = "graph-client-secret"
      SMTP_PASSWORD               = "smtp-password"
    }
    migrate = {
      DOMAIN_DB_CONNECTION_STRING = "database-url-migrate"
    }
  }
  # The sync service runs from the worker's image with its own command.
  images = {
    api    = "${var.image_registry}/sharepack-api:${var.image_tag}"
    worker = "${var.image_registry}/sharepack-worker:${var.image_tag}"
  }
}

resource "azurerm_container_app" "api" {
  name                         = "ca-${local.name}-api"
  container_app_environment_id = azurerm_container_app_environment.main.id
  resource_group_name          = azurerm_resource_group.main.name
  revision_mode                = "Single"
  workload_profile_name        = "Consumption"
  tags                         = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app["api"].id]
  }

  registry {
    server   = var.image_registry
    identity = azurerm_user_assigned_identity.app["api"].id
  }

  dynamic "secret" {
    for_each = toset(values(local.app_secret_env["api"]))
    content {
      name                = secret.value
      key_vault_secret_id = azurerm_key_vault_secret.app[secret.value].versionless_id
      identity            = azurerm_user_assigned_identity.app["api"].id
    }
  }

  ingress {
    external_enabled           = true
    target_port                = 8000
    transport                  = "http"
    allow_insecure_connections = false

    traffic_weight {
      latest_revision = true
      percentage      = 100
    }
  }

  template {
    min_replicas = var.api_min_replicas
    max_replicas = var.api_max_replicas

    http_scale_rule {
      name                = "concurrent-requests"
      concurrent_requests = "50"
    }

    container {
      name   = "api"
      image  = local.images.api
      cpu    = 0.5
      memory = "1Gi"

      dynamic "env" {
        for_each = local.app_env["api"]
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = local.app_secret_env["api"]
        content {
          name        = env.key
          secret_name = env.value
        }
      }

      liveness_probe {
        transport = "HTTP"
        port      = 8000
        path      = "/workflow/health/live"
      }

      readiness_probe {
        transport = "HTTP"
        port      = 8000
        path      = "/workflow/health/ready"
      }

      startup_probe {
        transport = "HTTP"
        port      = 8000
        path      = "/workflow/health/live"
      }
    }
  }

  depends_on = [azurerm_role_assignment.secret_reader, azurerm_role_assignment.image_pull]
}

resource "azurerm_container_app" "worker" {
  name                         = "ca-${local.name}-worker"
  container_app_environment_id = azurerm_container_app_environment.main.id
  resource_group_name          = azurerm_resource_group.main.name
  revision_mode                = "Single"
  workload_profile_name        = "Consumption"
  tags                         = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app["worker"].id]
  }

  registry {
    server   = var.image_registry
    identity = azurerm_user_assigned_identity.app["worker"].id
  }

  dynamic "secret" {
    for_each = toset(values(local.app_secret_env["worker"]))
    content {
      name                = secret.value
      key_vault_secret_id = azurerm_key_vault_secret.app[secret.value].versionless_id
      identity            = azurerm_user_assigned_identity.app["worker"].id
    }
  }

  template {
    # KEDA azure-queue scaler (https://keda.sh/docs/latest/scalers/azure-storage-queue/): one replica
    # per `queueLength` visible messages, down to one when the queue is empty. Not zero: the worker also
    # runs the outbox relay (what the API could not send during a queue outage) and the stuck-pack
    # sweeper (a pack whose message was lost), and both have nothing in the queue to wake a worker.
    min_replicas = 1
    max_replicas = var.worker_max_replicas

    custom_scale_rule {
      name             = "provisioning-queue-length"
      custom_rule_type = "azure-queue"
      metadata = {
        accountName = azurerm_storage_account.main.name
        queueName   = var.azure_queue_name
        queueLength = tostring(var.worker_messages_per_replica)
      }
      authentication {
        secret_name       = "azure-queue-connection-string"
        trigger_parameter = "connection"
      }
    }

    container {
      name   = "worker"
      image  = local.images.worker
      cpu    = 1.0
      memory = "2Gi"

      dynamic "env" {
        for_each = local.app_env["worker"]
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = local.app_secret_env["worker"]
        content {
          name        = env.key
          secret_name = env.value
        }
      }
    }
  }

  depends_on = [azurerm_role_assignment.secret_reader, azurerm_role_assignment.image_pull]
}

resource "azurerm_container_app" "sync" {
  name                         = "ca-${local.name}-sync"
  container_app_environment_id = azurerm_container_app_environment.main.id
  resource_group_name          = azurerm_resource_group.main.name
  revision_mode                = "Single"
  workload_profile_name        = "Consumption"
  tags                         = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app["sync"].id]
  }

  registry {
    server   = var.image_registry
    identity = azurerm_user_assigned_identity.app["sync"].id
  }

  dynamic "secret" {
    for_each = toset(values(local.app_secret_env["sync"]))
    content {
      name                = secret.value
      key_vault_secret_id = azurerm_key_vault_secret.app[secret.value].versionless_id
      identity            = azurerm_user_assigned_identity.app["sync"].id
    }
  }

  template {
    min_replicas = 1
    max_replicas = 1

    container {
      name    = "sync"
      image   = local.images.worker
      command = ["python", "-m", "sync"]
      cpu     = 0.5
      memory  = "1Gi"

      dynamic "env" {
        for_each = local.app_env["sync"]
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = local.app_secret_env["sync"]
        content {
          name        = env.key
          secret_name = env.value
        }
      }
    }
  }

  depends_on = [azurerm_role_assignment.secret_reader, azurerm_role_assignment.image_pull]
}

# Migrations run once per release, before the apps get the new image:
#   az containerapp job start -n <migrate job> -g <resource group> --image <registry>/sharepack-api:<tag>
# Alembic takes an advisory lock, so two starts never migrate at once.
resource "azurerm_container_app_job" "migrate" {
  name                         = "caj-${local.name}-migrate"
  location                     = azurerm_resource_group.main.location
  resource_group_name          = azurerm_resource_group.main.name
  container_app_environment_id = azurerm_container_app_environment.main.id
  workload_profile_name        = "Consumption"
  replica_timeout_in_seconds   = 1800
  replica_retry_limit          = 0
  tags                         = local.tags

  manual_trigger_config {
    parallelism              = 1
    replica_completion_count = 1
  }

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app["migrate"].id]
  }

  registry {
    server   = var.image_registry
    identity = azurerm_user_assigned_identity.app["migrate"].id
  }

  dynamic "secret" {
    for_each = toset(values(local.app_secret_env["migrate"]))
    content {
      name                = secret.value
      key_vault_secret_id = azurerm_key_vault_secret.app[secret.value].versionless_id
      identity            = azurerm_user_assigned_identity.app["migrate"].id
    }
  }

  template {
    container {
      name    = "migrate"
      image   = local.images.api
      command = ["alembic", "upgrade", "head"]
      cpu     = 0.5
      memory  = "1Gi"

      dynamic "env" {
        for_each = local.app_env["migrate"]
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = local.app_secret_env["migrate"]
        content {
          name        = env.key
          secret_name = env.value
        }
      }
    }
  }

  depends_on = [azurerm_role_assignment.secret_reader, azurerm_role_assignment.image_pull]
}
