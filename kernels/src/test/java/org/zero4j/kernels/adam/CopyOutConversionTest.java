package org.zero4j.kernels.adam;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The bf16 and fp16 copy-outs over the whole fp32 range, bit for bit against libtorch's {@code
 * .to()}: ties, both rounding directions, fp16 subnormals and its overflow threshold, infinities,
 * zeros of both signs and NaNs with payloads. A step with lr = 0 and zero moments and gradients
 * leaves every param unchanged (p + (-0) = p), so the copy-out is exactly the conversion of the
 * chosen bit patterns.
 */
@SuppressWarnings("try") // PointerScopes free the temporaries of each block
class CopyOutConversionTest {

  @Test
  void copyOutIsBitIdenticalToLibtorchAcrossTheFloatRange() {
    float[] params = patterns();
    int n = params.length;
    AdamHyperparams hp = new AdamHyperparams(0, 0.9, 0.999, 1e-8, 0, true, true);
    for (ElementType copy : new ElementType[] {ElementType.BF16, ElementType.FP16}) {
      for (Isa isa : Isa.supportedPaths()) {
        try (PointerScope scope = new PointerScope()) {
          AdamCase.Data d = new AdamCase.Data(params, new float[n], new float[n], new float[n]);
          Tensor grad = NativeBuffers.floats(d.grad());
          AdamCase c = new AdamCase(true, true, 0, ElementType.FP32, copy, 1);
          KernelRun run = KernelRun.run(new CpuAdam(2, isa), d, grad, c, hp);
          run.checkGuards(isa.label() + " " + copy + ": ");
          short[] want =
              NativeBuffers.readShorts(NativeBuffers.floats(run.param()).to(copy.scalarType()));
          CpuAdamReferenceTest.assertBitsEqual(
              isa.label() + " " + copy + " copy-out vs libtorch", want, run.copyOut());
        }
      }
    }
  }

  static float[] patterns() {
    List<Integer> bits = new ArrayList<>();
    int[] specials = {
      0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001,
      0x7fa00000, 0x7fffffff, 0xffffffff, 0x00000001, 0x007fffff, 0x00800000, 0x7f7fffff,
      0xff7fffff, 0x477fe000, 0x477fefff, 0x477ff000, 0x477ff001, 0x47800000, 0x38800000,
      0x387fffff, 0x387fe000, 0x387ff000, 0x33800000, 0x33000000, 0x33000001, 0x32ffffff,
      0x33c00000, 0x3f808000, 0x3f818000, 0x3f807fff, 0x3f818001, 0x7f7f8000, 0x7f7f7fff,
    };
    for (int s : specials) {
      bits.add(s);
      bits.add(s ^ 0x80000000);
    }
    SplittableRandom r = new SplittableRandom(42);
    for (int i = 0; i < 200_000; i++) {
      int b;
      switch (i % 4) {
        case 0 -> b = r.nextInt();
        case 1 -> b = (r.nextInt(100, 146) << 23) | (r.nextInt() & 0x807fffff);
        case 2 ->
            b =
                (r.nextInt(100, 146) << 23)
                    | (r.nextInt(2) << 31)
                    | (r.nextInt(1 << 10) << 13)
                    | 0x1000;
        default -> b = (r.nextInt() & 0xffff0000) | 0x8000;
      }
      bits.add(b);
    }
    float[] out = new float[bits.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = Float.intBitsToFloat(bits.get(i));
    }
    return out;
  }
}
