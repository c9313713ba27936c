/* epoll_echo: the floor of the transport bench.
 *
 * A single-threaded echo server in plain C on level-triggered epoll: read up
 * to 64 KiB, write it straight back, and when the socket takes only part of
 * it keep the rest in a per-connection buffer, stop reading that connection
 * and wait for EPOLLOUT.  No framing, no allocation per message, nothing an
 * abstraction could add: whatever a library costs is measured against this.
 *
 * Threads: epoll_echo_run() runs the loop on the calling thread;
 * epoll_echo_stop() may be called from any thread (it writes an eventfd). */
#ifndef CORONET_BENCH_EPOLL_ECHO_H
#define CORONET_BENCH_EPOLL_ECHO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct epoll_echo epoll_echo;

/* Listens on 127.0.0.1 on a free port.  NULL with errno set on failure. */
epoll_echo* epoll_echo_create(void);

/* The port it listens on. */
uint16_t epoll_echo_port(const epoll_echo* server);

/* Serves until epoll_echo_stop(), then closes every connection.  0, or -1
 * with errno set if the loop itself failed. */
int epoll_echo_run(epoll_echo* server);

/* Makes epoll_echo_run() return; callable from any thread, more than once. */
void epoll_echo_stop(epoll_echo* server);

/* Frees everything; call after epoll_echo_run() returned (or instead of it). */
void epoll_echo_destroy(epoll_echo* server);

#ifdef __cplusplus
}
#endif

#endif
