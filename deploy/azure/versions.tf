# Share Pack Workflow on Azure: PostgreSQL Flexible Server (private, TLS), a storage queue, Key Vault,
# Log Analytics + Application Insights, and Container Apps (API, worker scaled by KEDA on queue length,
# sync, and the migration job). docs/deploy-azure.md walks through it.
terraform {
  required_version = ">= 1.5"
  required_providers {
    azurerm = {
      # Exactly the version whose schema tests/unit/deploy/test_provider_schema.py checks these files against.
      source  = "hashicorp/azurerm"
      version = "4.55.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "azurerm" {
  features {
    key_vault {
      # Secrets are soft-deleted and purge-protected; never purge them on destroy.
      purge_soft_deleted_secrets_on_destroy = false
    }
  }
}

data "azurerm_client_config" "current" {}

locals {
  name = "${var.name_prefix}-${var.environment}"
  # Storage account and Key Vault names: globally unique, lowercase letters and digits, 3-24 characters.
  compact = substr(replace(lower("${var.name_prefix}${var.environment}"), "/[^a-z0-9]/", ""), 0, 18)
  tags = merge(var.tags, {
    service     = "sharepack-workflow"
    environment = var.environment
  })
}

resource "azurerm_resource_group" "main" {
  name     = "rg-${local.name}"
  location = var.location
  tags     = local.tags
}

resource "random_string" "suffix" {
  length  = 5
  special = false
  upper   = false
}
