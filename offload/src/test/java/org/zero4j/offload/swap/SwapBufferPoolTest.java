package org.zero4j.offload.swap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The pool's bound and its leak report. */
class SwapBufferPoolTest {

  @Test
  void closeReportsBuffersStillAcquiredWithExactBytes() {
    SwapBufferPool pool = new SwapBufferPool("rank3-test", 3, 1000);
    assertEquals(12_000, pool.bytes());
    SwapBuffer a = pool.acquire();
    pool.acquire();
    pool.release(a);
    IllegalStateException e = assertThrows(IllegalStateException.class, pool::close);
    assertEquals(
        "swap buffer pool rank3-test closed with 1 of 3 buffers (4000 bytes) still acquired",
        e.getMessage());
  }

  @Test
  void theBoundIsEnforced() {
    try (SwapBufferPool pool = new SwapBufferPool("p", 1, 10)) {
      SwapBuffer b = pool.acquire();
      IllegalStateException e = assertThrows(IllegalStateException.class, pool::acquire);
      assertTrue(e.getMessage().contains("all 1 buffers in use"), e.getMessage());
      SwapBuffer stranger = new SwapBuffer(10);
      assertThrows(IllegalStateException.class, () -> pool.release(stranger));
      stranger.free();
      pool.release(b);
    }
  }
}
