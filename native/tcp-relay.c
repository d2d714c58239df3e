/*
 * The mesh gateway's byte relay below Node's streams (Linux): once the gateway has read a connection's
 * ClientHello and connected it to an instance, both sockets are handed here, and a thread of our own moves
 * their bytes both ways with recv()/send() on an edge-triggered epoll, as nginx's stream module does.
 * Node's own path for a relayed chunk (the C++ read callback into JavaScript, a Buffer per read, the
 * Readable and Writable machinery, the ticks after each callback) cost the gateway about 1.2x nginx's CPU
 * per request, and no JavaScript can skip it (docs/benchmarks.md, "The floor under the mesh gateway").
 *
 * What the JavaScript relay did, this does: a FIN read from one side is passed on as a shutdown(SHUT_WR)
 * of the other once every byte before it is written; a reset or error on either side closes both; a pair
 * that moved no byte either way for idleMs is cut; under backpressure the bytes read but not yet written
 * are kept (at most one read's worth per direction) and that side is not read again until they are
 * written. The JavaScript side is told of every pair's end, with its reason and byte counts.
 *
 * The sockets are dup()ed: Node closes its own descriptors at the handoff, and the pair's connections close
 * when this thread closes the dups.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One read's most, as nginx's stream module's default buffer: it also bounds what a pair holds per direction
 * under backpressure (a caller that never reads pins at most this much of the relay's memory). */
#define CHUNK 16384
/* Reads per direction in one turn of a pair: a pair whose peer sends without pause and whose other side
 * drains as fast would otherwise keep the thread from every other pair, its commands and its idle sweep.
 * Past it the pair waits in the "again" list for the next turn of the loop (the edge that woke it is gone). */
#define READS_PER_TURN 16
#define MAX_EVENTS 256

enum reason { R_DONE = 0, R_ERROR = 1, R_IDLE = 2, R_CUT = 3 };
static const char *REASONS[] = {"done", "error", "idle", "cut"};

typedef struct half { /* the bytes read from fd[d], written to fd[1 - d] */
  char *pending;      /* read, not yet written (backpressure): malloc'd, freed once written */
  size_t off, len;
  int eof;            /* fd[d] read its FIN */
  int shut;           /* the FIN passed on: shutdown(fd[1 - d], SHUT_WR) */
  double bytes;
} half;

typedef struct pair {
  uint32_t id;
  int fd[2];
  half h[2];
  int64_t last; /* when a byte last moved, monotonic ms */
  int more;      /* this turn read READS_PER_TURN chunks of a side and stopped: it may have more */
  int queued;    /* in the "again" list */
  struct pair *aprev, *anext;
  struct done_msg *end; /* allocated with the pair, so its end always reaches JavaScript */
  int rdhup[2];  /* fd[i]'s peer has sent its FIN: read it until recv() says 0, not until a short read */
  int closed;
  struct pair *prev, *next; /* the live pairs, or the closed ones waiting to be freed */
} pair;

typedef struct done_msg {
  uint32_t id;
  int reason;
  double bytes[2];
} done_msg;

typedef struct command {
  enum { C_ADD, C_CUT_ALL } kind;
  pair *p;
  struct command *next;
} command;

typedef struct relay {
  int ep, wake;
  pthread_t thread;
  int running;
  pthread_mutex_t lock;
  command *head, *tail; /* commands from JavaScript, under lock */
  pair *live, *dead;    /* the thread's own */
  pair *again;          /* the thread's own: pairs to service again without an edge */
  int stop;             /* under lock: the thread ends at its next turn */
  int dead_thread;      /* atomic: the thread ended on an error of its own; adds are refused */
  uint32_t next_id;     /* JavaScript's own */
  int64_t idle_ms, sweep_ms, last_sweep;
  napi_threadsafe_function tsfn;
  napi_env env;
  char scratch[CHUNK];
} relay;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void unlink_pair(pair **list, pair *p) {
  if (p->prev) p->prev->next = p->next;
  else *list = p->next;
  if (p->next) p->next->prev = p->prev;
  p->prev = p->next = NULL;
}

static void push_pair(pair **list, pair *p) {
  p->prev = NULL;
  p->next = *list;
  if (*list) (*list)->prev = p;
  *list = p;
}

/* Closed pairs are freed after the batch of events that may still name them. */
static void close_pair(relay *r, pair *p, enum reason why) {
  if (p->closed) return;
  p->closed = 1;
  for (int i = 0; i < 2; i++) {
    /* Explicitly: epoll keys on the open file, which Node's own descriptor may still hold for a moment. */
    epoll_ctl(r->ep, EPOLL_CTL_DEL, p->fd[i], NULL);
    close(p->fd[i]);
    free(p->h[i].pending);
    p->h[i].pending = NULL;
  }
  if (p->queued) {
    if (p->aprev) p->aprev->anext = p->anext;
    else r->again = p->anext;
    if (p->anext) p->anext->aprev = p->aprev;
    p->queued = 0;
  }
  unlink_pair(&r->live, p);
  push_pair(&r->dead, p);
  done_msg *m = p->end;
  p->end = NULL;
  m->id = p->id;
  m->reason = why;
  m->bytes[0] = p->h[0].bytes;
  m->bytes[1] = p->h[1].bytes;
  if (napi_call_threadsafe_function(r->tsfn, m, napi_tsfn_nonblocking) != napi_ok) free(m);
}

/* 0: nothing more to do until the next edge; -1: the pair failed (a reset, a refused write). */
static int flush(pair *p, half *h, int to) {
  while (h->len > 0) {
    ssize_t n = send(to, h->pending + h->off, h->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
    h->off += (size_t)n;
    h->len -= (size_t)n;
    p->last = now_ms();
  }
  free(h->pending);
  h->pending = NULL;
  h->off = 0;
  return 0;
}

static int pump(relay *r, pair *p, int d) {
  half *h = &p->h[d];
  int from = p->fd[d], to = p->fd[1 - d];
  if (flush(p, h, to) < 0) return -1;
  for (int reads = 0; h->len == 0 && !h->eof; reads++) {
    if (reads == READS_PER_TURN) {
      p->more = 1;
      break;
    }
    ssize_t n = recv(from, r->scratch, CHUNK, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return -1;
    }
    if (n == 0) {
      h->eof = 1;
      break;
    }
    h->bytes += (double)n;
    p->last = now_ms();
    ssize_t w = 0;
    while (w < n) {
      ssize_t k = send(to, r->scratch + w, (size_t)(n - w), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return -1;
      }
      w += k;
    }
    if (w < n) {
      /* The rest waits for the other side's EPOLLOUT edge; this side is not read until it is written. */
      h->pending = malloc((size_t)(n - w));
      if (h->pending == NULL) return -1;
      memcpy(h->pending, r->scratch + w, (size_t)(n - w));
      h->len = (size_t)(n - w);
      break;
    }
    /* A short read emptied the socket's queue: the next byte brings a new edge (nginx reads the same way). A
     * FIN that came with the last bytes brought its edge already, so once the peer has sent one (EPOLLRDHUP)
     * the side is read until recv() says 0 or EAGAIN. */
    if (n < CHUNK && !p->rdhup[d]) break;
  }
  if (h->eof && h->len == 0 && !h->shut) {
    h->shut = 1;
    /* ENOTCONN when the other side is already gone: its own read says so. */
    shutdown(to, SHUT_WR);
  }
  return 0;
}

static void service(relay *r, pair *p) {
  p->more = 0;
  if (pump(r, p, 0) < 0 || pump(r, p, 1) < 0) {
    close_pair(r, p, R_ERROR);
    return;
  }
  if (p->h[0].shut && p->h[1].shut) {
    close_pair(r, p, R_DONE);
    return;
  }
  if (p->more && !p->queued) {
    p->queued = 1;
    p->aprev = NULL;
    p->anext = r->again;
    if (r->again) r->again->aprev = p;
    r->again = p;
  }
}

/* A turn for each pair that had more to read than one turn allows. */
static void service_again(relay *r) {
  pair *list = r->again;
  r->again = NULL;
  while (list) {
    pair *p = list;
    list = p->anext;
    if (list) list->aprev = NULL;
    p->queued = 0;
    p->aprev = p->anext = NULL;
    if (!p->closed) service(r, p);
  }
}

static void add_pair(relay *r, pair *p) {
  p->last = now_ms();
  push_pair(&r->live, p);
  for (int i = 0; i < 2; i++) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data = {.u64 = (uint64_t)(uintptr_t)p | (uint64_t)i}};
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, p->fd[i], &ev) != 0) {
      if (i == 1) epoll_ctl(r->ep, EPOLL_CTL_DEL, p->fd[0], NULL);
      close_pair(r, p, R_ERROR);
      return;
    }
  }
  /* Bytes may have arrived between Node's last read and the registration: the edge for them is gone. */
  service(r, p);
}

static void cut_all(relay *r) {
  while (r->live) close_pair(r, r->live, R_CUT);
}

static void sweep(relay *r, int64_t now) {
  r->last_sweep = now;
  for (pair *p = r->live, *next; p; p = next) {
    next = p->next;
    if (now - p->last >= r->idle_ms) close_pair(r, p, R_IDLE);
  }
}

static void free_dead(relay *r) {
  while (r->dead) {
    pair *p = r->dead;
    r->dead = p->next;
    free(p->end);
    free(p);
  }
}

static void *run(void *arg) {
  relay *r = arg;
  struct epoll_event evs[MAX_EVENTS];
  int stop = 0;
  while (!stop) {
    int timeout = -1;
    if (r->again) {
      timeout = 0;
    } else if (r->live) {
      int64_t due = r->last_sweep + r->sweep_ms - now_ms();
      timeout = due < 0 ? 0 : (int)due;
    }
    int n = epoll_wait(r->ep, evs, MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR) {
      /* Not expected (EBADF, EINVAL): end every pair, and refuse new ones, rather than hold them unserved. */
      __atomic_store_n(&r->dead_thread, 1, __ATOMIC_SEQ_CST);
      break;
    }
    for (int i = 0; i < n; i++) {
      if (evs[i].data.u64 == 0) {
        uint64_t v;
        if (read(r->wake, &v, sizeof v) < 0) { /* EAGAIN: another batch read it */ }
        pthread_mutex_lock(&r->lock);
        command *c = r->head;
        r->head = r->tail = NULL;
        stop = r->stop;
        pthread_mutex_unlock(&r->lock);
        while (c) {
          command *next = c->next;
          if (c->kind == C_ADD) add_pair(r, c->p);
          else cut_all(r);
          free(c);
          c = next;
        }
        continue;
      }
      pair *p = (pair *)(uintptr_t)(evs[i].data.u64 & ~(uint64_t)1);
      if (p->closed) continue;
      int side = (int)(evs[i].data.u64 & 1);
      if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) p->rdhup[side] = 1;
      service(r, p);
      /* A reset on a side that had already sent its FIN is read by no recv(): ask the socket. */
      if (!p->closed && (evs[i].events & EPOLLERR)) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(p->fd[side], SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) close_pair(r, p, R_ERROR);
      }
    }
    service_again(r);
    int64_t now = now_ms();
    if (r->live && now - r->last_sweep >= r->sweep_ms) sweep(r, now);
    else if (!r->live) r->last_sweep = now;
    free_dead(r);
  }
  cut_all(r);
  free_dead(r);
  return NULL;
}

static void wake(relay *r) {
  uint64_t one = 1;
  if (write(r->wake, &one, sizeof one) < 0) { /* EAGAIN: the counter is already non-zero, a wake is due */ }
}

static int enqueue(relay *r, int kind, pair *p) {
  command *c = calloc(1, sizeof *c);
  if (c == NULL) return -1;
  c->kind = kind;
  c->p = p;
  pthread_mutex_lock(&r->lock);
  if (r->tail) r->tail->next = c;
  else r->head = c;
  r->tail = c;
  pthread_mutex_unlock(&r->lock);
  wake(r);
  return 0;
}

static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  done_msg *m = data;
  (void)context;
  if (env != NULL && cb != NULL) {
    napi_value argv[4], undefined;
    napi_create_uint32(env, m->id, &argv[0]);
    napi_create_string_utf8(env, REASONS[m->reason], NAPI_AUTO_LENGTH, &argv[1]);
    napi_create_double(env, m->bytes[0], &argv[2]);
    napi_create_double(env, m->bytes[1], &argv[3]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, cb, 4, argv, NULL);
  }
  free(m);
}

static void stop_relay(relay *r) {
  if (!r->running) return;
  r->running = 0;
  /* A flag, not a command: nothing to allocate, so the join below cannot wait for a stop that never came. */
  pthread_mutex_lock(&r->lock);
  r->stop = 1;
  pthread_mutex_unlock(&r->lock);
  wake(r);
  pthread_join(r->thread, NULL);
  /* Commands the thread never took: their pairs were never relayed. */
  for (command *c = r->head, *next; c; c = next) {
    next = c->next;
    if (c->p) {
      close(c->p->fd[0]);
      close(c->p->fd[1]);
      free(c->p->end);
      free(c->p);
    }
    free(c);
  }
  r->head = r->tail = NULL;
  close(r->ep);
  close(r->wake);
  pthread_mutex_destroy(&r->lock);
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
}

static void cleanup_hook(void *arg) { stop_relay(arg); }

static napi_value throw_error(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static relay *get_relay(napi_env env, napi_value v) {
  relay *r = NULL;
  if (napi_get_value_external(env, v, (void **)&r) != napi_ok || r == NULL) return NULL;
  return r;
}

static void finalize_relay(napi_env env, void *data, void *hint) {
  (void)hint;
  relay *r = data;
  if (r->running) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, r);
    stop_relay(r);
  }
  free(r);
}

/* create(idleMs, onDone(id, reason, bytesFromFirst, bytesFromSecond)) -> relay */
static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out, name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double idle;
  napi_valuetype t;
  if (argc < 2 || napi_get_value_double(env, argv[0], &idle) != napi_ok || !(idle >= 1))
    return throw_error(env, "ERR_INVALID_ARG", "create(idleMs, onDone): idleMs must be a number >= 1");
  if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function)
    return throw_error(env, "ERR_INVALID_ARG", "create(idleMs, onDone): onDone must be a function");
  relay *r = calloc(1, sizeof *r);
  if (r == NULL) return throw_error(env, "ERR_NO_MEMORY", "out of memory");
  r->idle_ms = (int64_t)idle;
  r->sweep_ms = r->idle_ms / 4 > 0 ? r->idle_ms / 4 : 1;
  r->last_sweep = now_ms();
  r->next_id = 1;
  r->env = env;
  r->ep = epoll_create1(EPOLL_CLOEXEC);
  r->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  pthread_mutex_init(&r->lock, NULL);
  struct epoll_event ev = {.events = EPOLLIN, .data = {.u64 = 0}};
  if (r->ep < 0 || r->wake < 0 || epoll_ctl(r->ep, EPOLL_CTL_ADD, r->wake, &ev) != 0) {
    if (r->ep >= 0) close(r->ep);
    if (r->wake >= 0) close(r->wake);
    free(r);
    return throw_error(env, "ERR_RELAY_START", strerror(errno));
  }
  napi_create_string_utf8(env, "hyphae tcp relay", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &r->tsfn) != napi_ok) {
    close(r->ep);
    close(r->wake);
    free(r);
    return throw_error(env, "ERR_RELAY_START", "could not make the relay's callback");
  }
  /* Unreferenced until a pair is handed over: an idle relay never holds the process open. */
  napi_unref_threadsafe_function(env, r->tsfn);
  /* The thread takes no signal: they are the process's, for Node's own handlers on the main thread. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int started = pthread_create(&r->thread, NULL, run, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (started != 0) {
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    close(r->ep);
    close(r->wake);
    free(r);
    return throw_error(env, "ERR_RELAY_START", "could not start the relay's thread");
  }
  r->running = 1;
  napi_add_env_cleanup_hook(env, cleanup_hook, r);
  napi_create_external(env, r, finalize_relay, NULL, &out);
  return out;
}

static int dup_fd(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 3); }

/* add(relay, fdA, fdB) -> id: the relay takes copies of both descriptors; the caller closes its own. */
static napi_value add(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  relay *r = argc == 3 ? get_relay(env, argv[0]) : NULL;
  int32_t a, b;
  if (r == NULL || !r->running) return throw_error(env, "ERR_INVALID_ARG", "add(relay, fdA, fdB): not a running relay");
  if (__atomic_load_n(&r->dead_thread, __ATOMIC_SEQ_CST)) return throw_error(env, "ERR_RELAY_STOPPED", "the relay's thread ended on an error");
  if (napi_get_value_int32(env, argv[1], &a) != napi_ok || napi_get_value_int32(env, argv[2], &b) != napi_ok || a < 0 || b < 0)
    return throw_error(env, "ERR_INVALID_ARG", "add(relay, fdA, fdB): descriptors must be integers >= 0");
  pair *p = calloc(1, sizeof *p);
  if (p != NULL) p->end = malloc(sizeof(done_msg));
  if (p == NULL || p->end == NULL) {
    free(p);
    return throw_error(env, "ERR_NO_MEMORY", "out of memory");
  }
  p->fd[0] = dup_fd(a);
  p->fd[1] = p->fd[0] < 0 ? -1 : dup_fd(b);
  if (p->fd[1] < 0) {
    int e = errno;
    if (p->fd[0] >= 0) close(p->fd[0]);
    free(p->end);
    free(p);
    return throw_error(env, "ERR_RELAY_DUP", strerror(e));
  }
  p->id = r->next_id++;
  if (r->next_id == 0) r->next_id = 1;
  if (enqueue(r, C_ADD, p) != 0) {
    close(p->fd[0]);
    close(p->fd[1]);
    free(p->end);
    free(p);
    return throw_error(env, "ERR_NO_MEMORY", "out of memory");
  }
  napi_create_uint32(env, p->id, &out);
  return out;
}

static napi_value with_relay(napi_env env, napi_callback_info info, relay **r) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  *r = argc == 1 ? get_relay(env, argv[0]) : NULL;
  if (*r == NULL) return throw_error(env, "ERR_INVALID_ARG", "not a relay");
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* cutAll(relay): every pair is closed (reason "cut"), as the JavaScript relay's sockets were destroyed. */
static napi_value cut_all_js(napi_env env, napi_callback_info info) {
  relay *r;
  napi_value u = with_relay(env, info, &r);
  if (r != NULL && r->running) enqueue(r, C_CUT_ALL, NULL);
  return u;
}

/* ref(relay) / unref(relay): held while pairs are open, so the process waits for their ends. */
static napi_value ref_js(napi_env env, napi_callback_info info) {
  relay *r;
  napi_value u = with_relay(env, info, &r);
  if (r != NULL && r->running) napi_ref_threadsafe_function(env, r->tsfn);
  return u;
}

static napi_value unref_js(napi_env env, napi_callback_info info) {
  relay *r;
  napi_value u = with_relay(env, info, &r);
  if (r != NULL && r->running) napi_unref_threadsafe_function(env, r->tsfn);
  return u;
}

/* close(relay): every pair cut, the thread joined; the "cut" callbacks still come. */
static napi_value close_js(napi_env env, napi_callback_info info) {
  relay *r;
  napi_value u = with_relay(env, info, &r);
  if (r != NULL && r->running) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, r);
    stop_relay(r);
  }
  return u;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"add", NULL, add, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cutAll", NULL, cut_all_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ref", NULL, ref_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unref", NULL, unref_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, close_js, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
