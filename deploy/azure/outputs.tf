output "api_url" {
  description = "Base URL of the API; health at <api_url>/workflow/health."
  value       = "https://${azurerm_container_app.api.ingress[0].fqdn}"
}

output "resource_group" {
  description = "The resource group holding everything."
  value       = azurerm_resource_group.main.name
}

output "migrate_job" {
  description = "The migration job to start before each release."
  value       = azurerm_container_app_job.migrate.name
}

output "key_vault" {
  description = "Key Vault with the secrets (rotate them here)."
  value       = azurerm_key_vault.main.name
}

output "postgres_fqdn" {
  description = "Private FQDN of the PostgreSQL server (reachable from the VNet only)."
  value       = azurerm_postgresql_flexible_server.main.fqdn
}

output "log_analytics_workspace_id" {
  description = "Workspace for the KQL in docs/monitoring.md."
  value       = azurerm_log_analytics_workspace.main.workspace_id
}

output "database_roles_sql" {
  description = "Run once after the first migration, as the administrator: the apps' login roles, members of sharepack_app."
  value       = local.database_roles_sql
  sensitive   = true
}
