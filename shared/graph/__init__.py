"""Microsoft Graph for the AD sync and the upload validator: plain HTTP with `requests`, not msgraph-sdk.

Chosen by measuring both against the Graph emulator on this machine (3 pages of 100 users, paging by
``@odata.nextLink``, a fresh process each, msgraph-sdk 1.65.0 with kiota's bearer provider vs requests):

    =====================  ================  ==========
                           msgraph-sdk        requests
    =====================  ================  ==========
    import                 0.57 s            0.28 s
    first 3 pages          13.8 s            0.04 s
    peak RSS               76 MB             31 MB
    installed size         472 MB (46 pkgs)  already a dependency
    =====================  ================  ==========

The SDK's first calls load its generated request builders and models (392 MB of them), which dominates
a short sync or an upload's 2 s validation budget. We need five endpoints, `$select`, link following and
our own throttling policy (bounded waits; kiota's RetryHandler honours any Retry-After uncapped), which
`client.GraphClient` does in one small module. Tokens still come from azure-identity (`auth`).
"""
