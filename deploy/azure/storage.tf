# The storage account holding the provisioning queue (and its -poison twin, created by the app). No public
# network access: the apps reach it through a private endpoint in the VNet.
resource "azurerm_storage_account" "main" {
  #checkov:skip=CKV2_AZURE_40:The app and KEDA's azure-queue scaler authenticate with the connection string (seed setting azure_queue_connection_string), which needs shared keys; the key lives only in Key Vault.
  #checkov:skip=CKV2_AZURE_1:Microsoft-managed keys encrypt the queue; it holds only share pack ids, no data.
  #checkov:skip=CKV2_AZURE_38:Soft delete protects blobs; this account holds queues only.
  name                             = "st${local.compact}${random_string.suffix.result}"
  location                         = azurerm_resource_group.main.location
  resource_group_name              = azurerm_resource_group.main.name
  account_tier                     = "Standard"
  account_replication_type         = "GZRS"
  min_tls_version                  = "TLS1_2"
  https_traffic_only_enabled       = true
  allow_nested_items_to_be_public  = false
  public_network_access_enabled    = false
  cross_tenant_replication_enabled = false
  local_user_enabled               = false
  shared_access_key_enabled        = true # azure_queue_connection_string and KEDA authenticate with the key
  tags                             = local.tags

  network_rules {
    default_action = "Deny"
    bypass         = ["AzureServices", "Logging", "Metrics"]
  }

  queue_properties {
    logging {
      delete                = true
      read                  = true
      write                 = true
      version               = "1.0"
      retention_policy_days = 30
    }
    hour_metrics {
      enabled               = true # required by azurerm 4.x's schema
      include_apis          = true
      version               = "1.0"
      retention_policy_days = 30
    }
    minute_metrics {
      enabled               = true # required by azurerm 4.x's schema
      include_apis          = true
      version               = "1.0"
      retention_policy_days = 7
    }
  }

  sas_policy {
    expiration_period = "01.00:00:00"
    expiration_action = "Log"
  }
}

# Created through Azure Resource Manager (storage_account_id), so Terraform needs no data-plane access.
resource "azurerm_storage_queue" "provisioning" {
  name               = var.azure_queue_name
  storage_account_id = azurerm_storage_account.main.id
}

resource "azurerm_private_dns_zone" "queue" {
  name                = "privatelink.queue.core.windows.net"
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "queue" {
  name                  = "queue-link"
  resource_group_name   = azurerm_resource_group.main.name
  private_dns_zone_name = azurerm_private_dns_zone.queue.name
  virtual_network_id    = azurerm_virtual_network.main.id
  tags                  = local.tags
}

resource "azurerm_private_endpoint" "queue" {
  name                = "pe-${local.name}-queue"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.endpoints.id
  tags                = local.tags

  private_service_connection {
    name                           = "queue"
    private_connection_resource_id = azurerm_storage_account.main.id
    subresource_names              = ["queue"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "queue"
    private_dns_zone_ids = [azurerm_private_dns_zone.queue.id]
  }
}
