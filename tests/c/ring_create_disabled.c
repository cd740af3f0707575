/* URK_RING_DISABLED: until urk_ring_enable every op, submit and harvest is
 * refused with -URK_ESTATE (buffer rings may be registered before); the
 * thread that enables becomes the single issuer and drives the ring. */
#include "testutil.h"

#include <pthread.h>

static urk_ring_t *ring;

static void *enabler(void *arg)
{
    (void)arg;
    CHECK_OK(urk_ring_enable(ring));
    CHECK_RC(urk_ring_enable(ring), -EALREADY);
    urk_ring_info_t info;
    CHECK_OK(urk_ring_info(ring, &info));
    CHECK(info.active & URK_RING_ACTIVE_ENABLED);
    CHECK(info.active & URK_RING_ACTIVE_REGISTERED_FD); /* registered here */
    CHECK(info.active & URK_RING_ACTIVE_SINGLE_ISSUER);
    CHECK_OK(urk_prep_nop(ring, 42, 0));
    urk_cqe_t c = t_wait_for(ring, 42);
    CHECK(c.res == 0);
    t_ring_end_to_end(ring, 9);
    return NULL;
}

int main(void)
{
    ring = t_ring(URK_RING_DISABLED);
    urk_ring_info_t info;
    CHECK_OK(urk_ring_info(ring, &info));
    CHECK(!(info.active & URK_RING_ACTIVE_ENABLED));
    CHECK(!(info.active & URK_RING_ACTIVE_REGISTERED_FD));

    /* Every op refused before enable, and nothing is left queued. */
    uint8_t b[8];
    urk_addr_t a;
    CHECK_OK(urk_addr_parse("127.0.0.1", 9, &a));
    urk_iovec_t iov = {b, sizeof b};
    CHECK_RC(urk_prep_nop(ring, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_prep_accept_multishot(ring, 0, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_prep_recv(ring, 0, b, sizeof b, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_prep_send(ring, 0, b, sizeof b, 0, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_prep_sendv(ring, 0, &iov, 1, 0, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_prep_connect(ring, 0, &a, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_prep_close(ring, 0, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_prep_shutdown(ring, 0, 1, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_prep_cancel(ring, 5, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_prep_cancel_fd(ring, 0, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_prep_timeout(ring, 1000, 0, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_prep_msg_ring(ring, urk_ring_fd(ring), 0, 1, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_ring_submit(ring), -URK_ESTATE);
    urk_cqe_t c;
    CHECK_RC(urk_ring_complete(ring, &c, 1, 0, 0), -URK_ESTATE);
    CHECK_RC(urk_ring_complete(ring, &c, 1, 1, 1000000), -URK_ESTATE);

    /* A buffer ring can be registered while disabled; recv on it is still
     * refused until enable. */
    urk_bufring_t *br = t_bufring(ring, 5, 4, 256, 0);
    CHECK_RC(urk_prep_recv_multishot(ring, 0, 5, 1, 0), -URK_ESTATE);

    pthread_t t;
    CHECK(pthread_create(&t, NULL, enabler, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_RC(urk_ring_enable(ring), -EALREADY);
    urk_bufring_destroy(br);
    urk_ring_destroy(ring);

    /* Enabling a ring created enabled is -EALREADY. */
    urk_ring_t *r2 = t_ring(0);
    CHECK_RC(urk_ring_enable(r2), -EALREADY);
    urk_ring_destroy(r2);
    printf("ok\n");
    return 0;
}
