package org.zero4j.kernels.adam;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * One combination of CPU Adam options and the random data of one run.
 *
 * @param adamW decoupled weight decay
 * @param biasCorrection bias correction on
 * @param weightDecay 0 or a positive coefficient
 * @param gradType the gradient element type
 * @param copyType null for no copy-out, else BF16 or FP16
 * @param gradScale the loss scale the gradients carry
 */
record AdamCase(
    boolean adamW,
    boolean biasCorrection,
    double weightDecay,
    ElementType gradType,
    ElementType copyType,
    double gradScale) {

  static final long STEP = 5;

  AdamHyperparams hyperparams() {
    return new AdamHyperparams(0.01, 0.9, 0.999, 1e-8, weightDecay, adamW, biasCorrection);
  }

  /** Every combination: 2 x 2 x 2 x 3 x 3 x 2 = 144. */
  static List<AdamCase> all() {
    List<AdamCase> out = new ArrayList<>();
    for (boolean adamW : new boolean[] {false, true}) {
      for (boolean bias : new boolean[] {false, true}) {
        for (double wd : new double[] {0, 0.05}) {
          for (ElementType grad : ElementType.values()) {
            for (ElementType copy : new ElementType[] {null, ElementType.BF16, ElementType.FP16}) {
              for (double scale : new double[] {1, 1024}) {
                out.add(new AdamCase(adamW, bias, wd, grad, copy, scale));
              }
            }
          }
        }
      }
    }
    return out;
  }

  /**
   * Random mid-training state: params N(0,1), exp_avg N(0,0.1), exp_avg_sq U(0,0.01), grads N(0,1).
   */
  record Data(float[] param, float[] expAvg, float[] expAvgSq, float[] grad) {
    static Data random(int n, long seed, double gradScale) {
      SplittableRandom r = new SplittableRandom(seed);
      float[] p = new float[n];
      float[] m = new float[n];
      float[] v = new float[n];
      float[] g = new float[n];
      for (int i = 0; i < n; i++) {
        p[i] = (float) r.nextGaussian();
        m[i] = (float) (0.1 * r.nextGaussian());
        v[i] = (float) (0.01 * r.nextDouble());
        g[i] = (float) (gradScale * r.nextGaussian());
      }
      return new Data(p, m, v, g);
    }
  }
}
