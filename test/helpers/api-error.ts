import OpenAI from 'openai';

/** The SDK's error for a call that must fail; fails the test if it succeeds or fails otherwise. */
export async function apiError(
  promise: Promise<unknown>,
): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OpenAI.APIError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}
