# Secrets live in Key Vault (RBAC mode). Each app reads only through its user-assigned managed identity;
# Container Apps resolve the `secret` blocks from the vault at revision start.
resource "azurerm_key_vault" "main" {
  #checkov:skip=CKV2_AZURE_32:The vault is reached through the apps subnet's service endpoint and network ACLs; no private endpoint is needed for a handful of secrets read at start.
  name                          = "kv-${local.compact}${random_string.suffix.result}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  rbac_authorization_enabled    = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 90
  public_network_access_enabled = true # restricted by network_acls below
  tags                          = local.tags

  network_acls {
    default_action             = "Deny"
    bypass                     = "AzureServices"
    virtual_network_subnet_ids = [azurerm_subnet.apps.id]
    ip_rules                   = var.operator_ip_ranges
  }
}

# Whoever runs Terraform writes the secrets.
resource "azurerm_role_assignment" "deployer_secrets" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

# Signs the console's session cookies; every API replica must share it (the API refuses to start in
# production without it). Rotating it (terraform apply -replace=random_password.console_secret_key) signs
# everyone out.
resource "random_password" "console_secret_key" {
  length  = 64
  special = false
}

locals {
  # Every secret a process reads; app_secret_env (apps.tf) says which app reads which.
  secrets = {
    "database-url-migrate"          = local.database_urls.migrate
    "database-url-api"              = local.database_urls.api
    "database-url-worker"           = local.database_urls.worker
    "database-url-sync"             = local.database_urls.sync
    "azure-queue-connection-string" = azurerm_storage_account.main.primary_connection_string
    "api-keys"                      = var.api_keys
    "databricks-client-secret"      = var.databricks_client_secret
    "console-secret-key"            = random_password.console_secret_key.result
    "activation-link-keys"          = var.activation_link_keys
    "graph-client-secret"           = var.graph_client_secret
    "smtp-password"                 = var.smtp_password
  }
}

resource "azurerm_key_vault_secret" "app" {
  for_each        = local.secrets
  name            = each.key
  value           = each.value
  key_vault_id    = azurerm_key_vault.main.id
  content_type    = "text/plain"
  expiration_date = var.secret_expiry
  tags            = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets]
}

# One identity per app, so each reads only what it needs.
resource "azurerm_user_assigned_identity" "app" {
  for_each            = toset(["api", "worker", "sync", "migrate"])
  name                = "id-${local.name}-${each.key}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

locals {
  # Which secrets each app may read: exactly those its settings name (granted per secret, not on the vault).
  secret_grants = merge([
    for app, env in local.app_secret_env : { for name in distinct(values(env)) : "${app}/${name}" => { app = app, secret = name } }
  ]...)
}

resource "azurerm_role_assignment" "secret_reader" {
  for_each             = local.secret_grants
  scope                = azurerm_key_vault_secret.app[each.value.secret].resource_versionless_id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.app[each.value.app].principal_id
}

data "azurerm_container_registry" "images" {
  count               = var.image_registry_resource_group == "" ? 0 : 1
  name                = split(".", var.image_registry)[0]
  resource_group_name = var.image_registry_resource_group
}

resource "azurerm_role_assignment" "image_pull" {
  for_each             = var.image_registry_resource_group == "" ? toset([]) : toset(["api", "worker", "sync", "migrate"])
  scope                = data.azurerm_container_registry.images[0].id
  role_definition_name = "AcrPull"
  principal_id         = azurerm_user_assigned_identity.app[each.key].principal_id
}
