// The service's request and response types, named from the generated contract
// (generated/openapi.ts, made from server/openapi.yaml).
import type { components } from './generated/openapi.js';

type Schemas = components['schemas'];

export type SessionSigsRequest = Schemas['SessionSigsRequest'];
export type SessionSigsResponse = Schemas['SessionSigsResponse'];
/** One node's session sig: the SDK's `AuthSig` with `algo: "ed25519"`. */
export type SessionSig = SessionSigsResponse['sessionSigs'][string];
/**
 * Node URL → session sig: the Lit JS SDK's `SessionSigsMap` (v7 and v8 alike), ready for
 * `executeJs` / `pkpSign` / `decrypt` (v7) or `executeJs` (v8).
 */
export type SessionSigsMap = Record<string, SessionSig>;
export type ResourceAbilityRequest = Schemas['ResourceAbilityRequest'];
export type AuthSigJson = Schemas['AuthSigJson'];
export type Price = Schemas['Price'];
export type Evaluation = Schemas['Evaluation'];
export type VerifyRequest = Schemas['VerifyRequest'];
export type VerifyResponse = Schemas['VerifyResponse'];
export type KeysResponse = Schemas['KeysResponse'];
export type CapacityRequest = Schemas['CapacityRequest'];
export type CapacityResponse = Schemas['CapacityResponse'];
export type PaymentRequest = Schemas['PaymentRequest'];
export type PaymentResponse = Schemas['PaymentResponse'];
export type Readiness = Schemas['Readiness'];
export type Problem = Schemas['Problem'];
/** The problem types the service answers with (`https://lit-session-signer.dev/problems/<slug>`). */
export type ServiceProblemType = Problem['type'];
