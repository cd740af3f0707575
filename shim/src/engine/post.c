/* post.c - work posted to a reactor from any thread (urk_reactor_post): a
 * mutex-guarded FIFO the reactor empties at every loop turn into
 * URK_EV_POST events. Native mode runs them (dispatch); pull mode returns
 * them to the owner. Posts still queued when the reactor stops are run by
 * the stopping thread, never dropped. */
#include "engine.h"

#include <stdlib.h>

struct urk_post {
    urk_post_t *next;
    urk_post_fn fn;
    void *arg;
};

int urk_reactor_post(urk_reactor_t *r, urk_post_fn fn, void *arg)
{
    if (!r)
        return -EINVAL;
    urk_post_t *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    p->next = NULL;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&r->post_lock);
    if (r->posts_closed) {
        pthread_mutex_unlock(&r->post_lock);
        free(p);
        return -URK_ESTATE;
    }
    if (r->post_tail)
        r->post_tail->next = p;
    else
        r->post_head = p;
    r->post_tail = p;
    atomic_fetch_add(&r->posts_queued, 1);
    pthread_mutex_unlock(&r->post_lock);
    urk__reactor_kick(r);
    return 0;
}

static urk_post_t *steal(urk_reactor_t *r, int close_queue)
{
    pthread_mutex_lock(&r->post_lock);
    urk_post_t *p = r->post_head;
    r->post_head = r->post_tail = NULL;
    atomic_store(&r->posts_queued, 0);
    if (close_queue)
        r->posts_closed = 1;
    pthread_mutex_unlock(&r->post_lock);
    return p;
}

void urk__take_posts(urk_reactor_t *r)
{
    /* While a pull-mode reactor stops its events are dropped: posts wait
     * for urk__run_posts instead. */
    if (r->discard || !atomic_load_explicit(&r->posts_queued, memory_order_acquire))
        return;
    urk_post_t *p = steal(r, 0);
    while (p) {
        if (urk__emit(r, 0, URK_EV_POST, 0, (const uint8_t *)(uintptr_t)p->fn, 0, 0,
                      (uint64_t)(uintptr_t)p->arg) != 0)
            break; /* no memory for the event: the rest waits, in order */
        urk_post_t *next = p->next;
        free(p);
        p = next;
    }
    if (p) {
        urk_post_t *last = p;
        uint32_t n = 1;
        while (last->next)
            last = last->next, n++;
        pthread_mutex_lock(&r->post_lock);
        last->next = r->post_head;
        r->post_head = p;
        if (!r->post_tail)
            r->post_tail = last;
        atomic_fetch_add(&r->posts_queued, n);
        pthread_mutex_unlock(&r->post_lock);
    }
}

void urk__run_posts(urk_reactor_t *r, int close_queue)
{
    for (;;) {
        urk_post_t *p = steal(r, close_queue);
        if (!p)
            return;
        while (p) {
            urk_post_t *next = p->next;
            if (p->fn)
                p->fn(r, p->arg);
            free(p);
            p = next;
        }
    }
}
