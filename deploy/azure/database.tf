# PostgreSQL Flexible Server with private access only (VNet integration) and TLS required. The
# administrator password is generated here and kept only in Key Vault and the Terraform state (keep the
# state in a storage account with restricted access).
#
# Least privilege: the administrator owns the schema and is used by the migration job only. The API,
# worker and sync service log in as their own roles (sharepack_api, sharepack_worker, sharepack_sync), members
# of the NOLOGIN role sharepack_app that migration 0008 creates and grants DML to (no UPDATE or DELETE
# on the append-only logs, no DDL, so no disabling their triggers). Their passwords are generated here;
# `terraform output -raw database_roles_sql` is the SQL an operator runs once (docs/deploy-azure.md).
# Entra authentication is on for people: the Entra administrator below maps identities to roles with
# pgaadauth_create_principal.
resource "random_password" "postgres" {
  length  = 32
  special = false
}

resource "azurerm_postgresql_flexible_server" "main" {
  #checkov:skip=CKV2_AZURE_57:Private access by VNet integration (delegated subnet, public access disabled) is the server's private mode; a private endpoint is the alternative for public-access servers.
  name                          = "psql-${local.name}-${random_string.suffix.result}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  version                       = "16"
  sku_name                      = var.postgres_sku
  storage_mb                    = var.postgres_storage_mb
  delegated_subnet_id           = azurerm_subnet.database.id
  private_dns_zone_id           = azurerm_private_dns_zone.postgres.id
  public_network_access_enabled = false
  administrator_login           = "sharepack_admin"
  administrator_password        = random_password.postgres.result
  backup_retention_days         = 35
  geo_redundant_backup_enabled  = true
  zone                          = "1"
  tags                          = local.tags

  authentication {
    active_directory_auth_enabled = true
    password_auth_enabled         = true
    tenant_id                     = data.azurerm_client_config.current.tenant_id
  }

  high_availability {
    mode                      = "ZoneRedundant"
    standby_availability_zone = "2"
  }

  depends_on = [azurerm_private_dns_zone_virtual_network_link.postgres]
}

# TLS is required for every connection (the connection string also says sslmode=require).
resource "azurerm_postgresql_flexible_server_configuration" "require_tls" {
  name      = "require_secure_transport"
  server_id = azurerm_postgresql_flexible_server.main.id
  value     = "on"
}

resource "azurerm_postgresql_flexible_server_configuration" "log_checkpoints" {
  name      = "log_checkpoints"
  server_id = azurerm_postgresql_flexible_server.main.id
  value     = "on"
}

resource "azurerm_postgresql_flexible_server_configuration" "log_connections" {
  name      = "log_connections"
  server_id = azurerm_postgresql_flexible_server.main.id
  value     = "on"
}

resource "azurerm_postgresql_flexible_server_database" "sharepack" {
  name      = "sharepack"
  server_id = azurerm_postgresql_flexible_server.main.id
  charset   = "UTF8"
  collation = "en_US.utf8"
}

resource "azurerm_postgresql_flexible_server_active_directory_administrator" "operators" {
  server_name         = azurerm_postgresql_flexible_server.main.name
  resource_group_name = azurerm_resource_group.main.name
  tenant_id           = data.azurerm_client_config.current.tenant_id
  object_id           = var.postgres_entra_admin_object_id
  principal_name      = var.postgres_entra_admin_name
  principal_type      = "Group"
}

# One login role per app, each a member of sharepack_app (created by migration 0008).
resource "random_password" "database" {
  for_each = toset(["api", "worker", "sync"])
  length   = 32
  special  = false
}

locals {
  database_logins = {
    migrate = { user = azurerm_postgresql_flexible_server.main.administrator_login, password = random_password.postgres.result }
    api     = { user = "sharepack_api", password = random_password.database["api"].result }
    worker  = { user = "sharepack_worker", password = random_password.database["worker"].result }
    sync    = { user = "sharepack_sync", password = random_password.database["sync"].result }
  }
  # Seed setting domain_db_connection_string per app (psycopg accepts postgresql:// URLs).
  database_urls = { for app, login in local.database_logins : app => format(
    "postgresql://%s:%s@%s:5432/%s?sslmode=require",
    login.user,
    login.password,
    azurerm_postgresql_flexible_server.main.fqdn,
    azurerm_postgresql_flexible_server_database.sharepack.name,
  ) }
  database_roles_sql = join("\n", [for app in ["api", "worker", "sync"] : format(
    "CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE sharepack_app;",
    local.database_logins[app].user,
    local.database_logins[app].password,
  )])
}
