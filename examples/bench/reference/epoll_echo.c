#define _GNU_SOURCE /* accept4 */
#include "epoll_echo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum { read_chunk = 64 * 1024, max_events = 256, accepts_per_event = 64 };

/* What an epoll event points at: every registered object starts with one. */
enum source_kind { source_listener, source_wakeup, source_connection };

struct source {
  enum source_kind kind;
};

struct connection {
  struct source source; /* first, so that a struct source* is a struct connection* */
  int fd;
  unsigned char* pending; /* bytes read but not yet written back */
  size_t pending_begin, pending_end;
  struct connection* prev;
  struct connection* next;
};

struct epoll_echo {
  int epoll_fd, listen_fd, wake_fd;
  uint16_t port;
  struct source listener, wakeup;
  struct connection* connections; /* every open one, so that run() can close them */
  unsigned char buffer[read_chunk];
};

static int watch(struct epoll_echo* s, int op, int fd, uint32_t events, struct source* src) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = events;
  ev.data.ptr = src;
  return epoll_ctl(s->epoll_fd, op, fd, &ev);
}

static void drop(struct epoll_echo* s, struct connection* c) {
  close(c->fd); /* also leaves the epoll set */
  if (c->prev)
    c->prev->next = c->next;
  else
    s->connections = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c->pending);
  free(c);
}

static void accept_all(struct epoll_echo* s) {
  int i;
  for (i = 0; i < accepts_per_event; ++i) {
    int one = 1;
    struct connection* c;
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; /* EAGAIN, or a connection that died before accept: either way, wait */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      return;
    }
    c->source.kind = source_connection;
    c->fd = fd;
    c->next = s->connections;
    if (c->next) c->next->prev = c;
    s->connections = c;
    if (watch(s, EPOLL_CTL_ADD, fd, EPOLLIN, &c->source) != 0) drop(s, c);
  }
}

/* Writes what is pending; 0 when it is all written, 1 when the socket is
 * full, -1 when the connection is broken. */
static int write_pending(struct connection* c) {
  while (c->pending_begin < c->pending_end) {
    ssize_t n = send(c->fd, c->pending + c->pending_begin, c->pending_end - c->pending_begin,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
    }
    c->pending_begin += (size_t)n;
  }
  c->pending_begin = c->pending_end = 0;
  return 0;
}

/* One read per event: level triggering brings a busy connection back. */
static void on_readable(struct epoll_echo* s, struct connection* c) {
  ssize_t n = recv(c->fd, s->buffer, read_chunk, MSG_DONTWAIT);
  ssize_t w;
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    drop(s, c);
    return;
  }
  if (n < 0) return;
  do w = send(c->fd, s->buffer, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (w < 0 && errno == EINTR);
  if (w == n) return;
  if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    drop(s, c);
    return;
  }
  if (w < 0) w = 0;
  /* The peer is slower than we are: keep the rest, stop reading until it is gone. */
  if (!c->pending && !(c->pending = malloc(read_chunk))) {
    drop(s, c);
    return;
  }
  memcpy(c->pending, s->buffer + w, (size_t)(n - w));
  c->pending_begin = 0;
  c->pending_end = (size_t)(n - w);
  if (watch(s, EPOLL_CTL_MOD, c->fd, EPOLLOUT, &c->source) != 0) drop(s, c);
}

static void on_writable(struct epoll_echo* s, struct connection* c) {
  int r = write_pending(c);
  if (r < 0)
    drop(s, c);
  else if (r == 0 && watch(s, EPOLL_CTL_MOD, c->fd, EPOLLIN, &c->source) != 0)
    drop(s, c);
}

epoll_echo* epoll_echo_create(void) {
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  int saved;
  struct epoll_echo* s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->epoll_fd = s->listen_fd = s->wake_fd = -1;
  s->listener.kind = source_listener;
  s->wakeup.kind = source_wakeup;
  s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->epoll_fd < 0 || s->wake_fd < 0 || s->listen_fd < 0) goto fail;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s->listen_fd, (struct sockaddr*)&addr, sizeof addr) != 0) goto fail;
  if (listen(s->listen_fd, 1024) != 0) goto fail;
  if (getsockname(s->listen_fd, (struct sockaddr*)&addr, &len) != 0) goto fail;
  s->port = ntohs(addr.sin_port);
  if (watch(s, EPOLL_CTL_ADD, s->listen_fd, EPOLLIN, &s->listener) != 0) goto fail;
  if (watch(s, EPOLL_CTL_ADD, s->wake_fd, EPOLLIN, &s->wakeup) != 0) goto fail;
  return s;
fail:
  saved = errno;
  epoll_echo_destroy(s);
  errno = saved;
  return NULL;
}

uint16_t epoll_echo_port(const epoll_echo* s) { return s->port; }

int epoll_echo_run(epoll_echo* s) {
  struct epoll_event events[max_events];
  int stopping = 0, failed = 0, saved = 0;
  while (!stopping) {
    int i, n = epoll_wait(s->epoll_fd, events, max_events, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed = 1;
      saved = errno;
      break;
    }
    for (i = 0; i < n; ++i) {
      struct source* src = events[i].data.ptr;
      if (src->kind == source_listener) {
        accept_all(s);
      } else if (src->kind == source_wakeup) {
        stopping = 1;
      } else {
        /* A dropped connection is freed at once, but only its own event
         * pointed at it: epoll_wait reports each fd once per call. */
        struct connection* c = (struct connection*)src;
        if (c->pending_end > c->pending_begin)
          on_writable(s, c); /* waiting for EPOLLOUT */
        else
          on_readable(s, c); /* EPOLLIN, EPOLLHUP, EPOLLERR: recv tells which */
      }
    }
  }
  while (s->connections) drop(s, s->connections);
  if (failed) errno = saved;
  return failed ? -1 : 0;
}

void epoll_echo_stop(epoll_echo* s) {
  uint64_t one = 1;
  ssize_t ignored = write(s->wake_fd, &one, sizeof one); /* EAGAIN: already signalled */
  (void)ignored;
}

void epoll_echo_destroy(epoll_echo* s) {
  if (!s) return;
  while (s->connections) drop(s, s->connections);
  if (s->listen_fd >= 0) close(s->listen_fd);
  if (s->wake_fd >= 0) close(s->wake_fd);
  if (s->epoll_fd >= 0) close(s->epoll_fd);
  free(s);
}
