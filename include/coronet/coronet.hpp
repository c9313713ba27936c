// Everything an application needs: channels, listeners, servers, URLs,
// errors and timeouts.  Concrete transports have their own headers.
#pragma once

#include <coronet/channel.hpp>
#include <coronet/clock.hpp>
#include <coronet/error.hpp>
#include <coronet/group.hpp>
#include <coronet/jwt.hpp>
#include <coronet/listener.hpp>
#include <coronet/log.hpp>
#include <coronet/message.hpp>
#include <coronet/options.hpp>
#include <coronet/reconnect.hpp>
#include <coronet/result.hpp>
#include <coronet/server.hpp>
#include <coronet/timeout.hpp>
#include <coronet/transport/registry.hpp>
#include <coronet/url.hpp>
