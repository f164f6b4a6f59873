// The tls layer's contexts in one include: ServerTlsContext (listeners) and ClientTlsContext
// (upstreams). Both are immutable after create() and shared read-only by all workers.
#pragma once

#include "tls/client_tls_context.h"
#include "tls/server_tls_context.h"
