# The alerts of deploy/alerts.yml as Azure Monitor rules. The apps log JSON lines (one `event` per line)
# that Container Apps ship to Log Analytics table ContainerAppConsoleLogs_CL; the queries below parse
# them. docs/monitoring.md lists the same KQL for ad-hoc use.
resource "azurerm_monitor_action_group" "operators" {
  name                = "ag-${local.name}"
  resource_group_name = azurerm_resource_group.main.name
  short_name          = "sharepack"
  tags                = local.tags

  email_receiver {
    name          = "operators"
    email_address = var.alert_email
  }
}

locals {
  events = <<-KQL
    ContainerAppConsoleLogs_CL
    | where ContainerAppName_s startswith "ca-${local.name}-"
    | extend entry = parse_json(Log_s)
    | extend event = tostring(entry.event)
  KQL
  # The worker logs a `monitoring.snapshot` event every minute (shared/platform/gauges.py) with the gauges
  # Prometheus scrapes: queue depth and oldest message age, poison depth, oldest pack in progress,
  # consecutive sync failures per sync type.
  snapshots = "${local.events}| where event == \"monitoring.snapshot\"\n"

  log_alerts = {
    provisioning-failed = {
      description = "Share packs ended FAILED (SharePackProvisioningFailed)."
      severity    = 2
      window      = "PT15M"
      query       = "${local.events}| where event == \"provision.failed\"\n| summarize failures = count()"
      threshold   = 0
      metric      = "failures"
    }
    api-5xx-rate = {
      description = "More than 5% of API requests answered 5xx over 5 minutes (SharePackApiErrorRateHigh)."
      severity    = 1
      window      = "PT5M"
      # gunicorn's access line: <client> "<request line>" <status> <bytes> <ms>ms rid=<request id>
      query     = "${local.events}| where ContainerAppName_s endswith \"-api\"\n| extend status = toint(extract(@'\" (\\d{3}) ', 1, event))\n| where isnotnull(status)\n| summarize rate = 100.0 * countif(status >= 500) / count()"
      threshold = 5
      metric    = "rate"
    }
    queue-oldest-message = {
      description = "The oldest queue message waits more than 15 minutes (SharePackQueueOldestMessageTooOld)."
      severity    = 2
      window      = "PT5M"
      query       = "${local.snapshots}| summarize age = max(todouble(entry.queue_oldest_message_age_seconds))"
      threshold   = 900
      metric      = "age"
    }
    database-unreachable = {
      description = "The API or the worker cannot reach PostgreSQL (SharePackDatabaseUnreachable)."
      severity    = 1
      window      = "PT5M"
      query       = "${local.events}| where event in (\"request.database_unavailable\", \"health.database_unreachable\")\n| summarize failures = count()"
      threshold   = 0
      metric      = "failures"
    }
    poison-messages = {
      description = "Messages were moved to the poison queue (SharePackPoisonMessages)."
      severity    = 2
      window      = "PT15M"
      query       = "${local.events}| where event == \"queue.message_poisoned\"\n| summarize poisoned = count()"
      threshold   = 0
      metric      = "poisoned"
    }
    pack-stuck-in-progress = {
      description = "A share pack has been IN_PROGRESS for more than an hour (SharePackStuckInProgress)."
      severity    = 2
      window      = "PT15M"
      query       = "${local.snapshots}| summarize age = max(todouble(entry.oldest_in_progress_pack_age_seconds))"
      threshold   = 3600
      metric      = "age"
    }
    sync-job-failing = {
      description = "A sync job failed three times in a row (SharePackSyncJobFailing)."
      severity    = 2
      window      = "PT15M"
      query       = "${local.snapshots}| summarize failures = max(todouble(entry.sync_max_consecutive_failures))"
      threshold   = 2
      metric      = "failures"
    }
  }
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "log" {
  for_each             = local.log_alerts
  name                 = "alert-${local.name}-${each.key}"
  location             = azurerm_resource_group.main.location
  resource_group_name  = azurerm_resource_group.main.name
  scopes               = [azurerm_log_analytics_workspace.main.id]
  description          = each.value.description
  severity             = each.value.severity
  evaluation_frequency = "PT5M"
  window_duration      = each.value.window
  tags                 = local.tags

  criteria {
    query                   = each.value.query
    time_aggregation_method = "Maximum"
    metric_measure_column   = each.value.metric
    operator                = "GreaterThan"
    threshold               = each.value.threshold

    failing_periods {
      minimum_failing_periods_to_trigger_alert = 1
      number_of_evaluation_periods             = 1
    }
  }

  action {
    action_groups = [azurerm_monitor_action_group.operators.id]
  }
}

# Queue backlog from the storage account's own metric (no app involved, so it also fires when no
# worker runs at all).
resource "azurerm_monitor_metric_alert" "queue_backlog" {
  name                = "alert-${local.name}-queue-backlog"
  resource_group_name = azurerm_resource_group.main.name
  scopes              = ["${azurerm_storage_account.main.id}/queueServices/default"]
  description         = "More than 100 messages wait on the queues (SharePackQueueBacklog)."
  severity            = 2
  frequency           = "PT5M"
  window_size         = "PT1H" # QueueMessageCount is a capacity metric, refreshed hourly
  tags                = local.tags

  criteria {
    metric_namespace = "Microsoft.Storage/storageAccounts/queueServices"
    metric_name      = "QueueMessageCount"
    aggregation      = "Average"
    operator         = "GreaterThan"
    threshold        = 100
  }

  action {
    action_group_id = azurerm_monitor_action_group.operators.id
  }
}
