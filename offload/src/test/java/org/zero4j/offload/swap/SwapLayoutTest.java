package org.zero4j.offload.swap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.zero4j.kernels.host.HugePages;

/** Layout rounding and block-aligned staging tensors, on odd sizes. */
class SwapLayoutTest {

  @Test
  void alignRoundsUpToTheNextBlock() {
    assertEquals(0, SwapLayout.align(0));
    assertEquals(4096, SwapLayout.align(1));
    assertEquals(4096, SwapLayout.align(4095));
    assertEquals(4096, SwapLayout.align(4096));
    assertEquals(8192, SwapLayout.align(4097));
    assertEquals(3L << 32, SwapLayout.align((3L << 32) - 4093));
    assertThrows(IllegalArgumentException.class, () -> SwapLayout.align(-1));
  }

  @Test
  @SuppressWarnings("try")
  void alignedTensorsStartOnABlockAndKeepTheirSize() {
    torch.ScalarType[] types = {
      torch.ScalarType.Float,
      torch.ScalarType.BFloat16,
      torch.ScalarType.Half,
      torch.ScalarType.Double,
      torch.ScalarType.Byte
    };
    for (torch.ScalarType type : types) {
      for (long n : new long[] {0, 1, 3, 1023, 1025, 70_001, 1 << 20}) {
        try (Tensor t = SwapLayout.alignedEmpty(n, type)) {
          assertEquals(n, t.numel(), type + " x " + n);
          assertEquals(type.value, t.scalar_type().value, type + " x " + n);
          assertTrue(t.is_contiguous() && t.is_cpu(), type + " x " + n);
          if (n > 0) {
            assertEquals(0, SwapLayout.address(t) % SwapLayout.BLOCK, type + " x " + n);
            if (n * t.element_size() >= HugePages.SIZE) {
              assertEquals(0, SwapLayout.address(t) % HugePages.SIZE, "huge " + type + " x " + n);
            }
            // the whole view is writable memory: fill it and read the last element back
            t.fill_(new Scalar(7.0));
            try (Tensor last = t.narrow(0, n - 1, 1)) {
              assertEquals(7.0, last.item_double(), type + " x " + n);
            }
          }
        }
      }
    }
  }

  @Test
  @SuppressWarnings("try")
  void poolBuffersAreBlockAligned() {
    try (SwapBufferPool pool = new SwapBufferPool("aligned", 5, 1001)) {
      List<SwapBuffer> taken = new ArrayList<>();
      for (int i = 0; i < pool.count(); i++) {
        SwapBuffer b = pool.acquire();
        taken.add(b);
        try (Tensor t = b.floats(b.capacity())) {
          assertEquals(0, SwapLayout.address(t) % SwapLayout.BLOCK, "buffer " + i);
          assertEquals(0, b.bytes(1).alignmentOffset(0, SwapLayout.BLOCK), "buffer " + i);
        }
      }
      taken.forEach(pool::release);
    }
  }
}
