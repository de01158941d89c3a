// Adyen's official Node library against a local poigate, as a POS would use it: its
// TerminalCloudAPI sync and async calls, with the library's own serializer and
// deserializer. The library talks HTTPS to Adyen's hosts; an injected HTTP client (the
// library's `ClientInterface`) sends the same requests to poigate's /adyen prefix instead.
//
// Run by .ci/run. Starts `poigate serve --demo` on a free port in a temporary data
// directory (POIGATE_BIN names the binary), waits until it is ready (polling, no sleeps),
// runs a payment, a decline, a transaction status, an async payment with its event
// notification, and an abort. Exits non-zero on the first failure.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { strict as assert } from "node:assert";
import adyen from "@adyen/api-library";

const { Client, Config, EnvironmentEnum, TerminalCloudAPI, Types } = adyen;
const ADYEN_TEST_ENDPOINT = "https://terminal-api-test.adyen.com";
const DEADLINE_MS = 30_000;
const POIID = "V400m-324688179"; // a demo terminal
const SALE_ID = "NodePOS1";

/** Polls `probe` until it returns a value, or throws after the deadline. */
async function eventually(what, probe, deadlineMs = DEADLINE_MS) {
  const until = Date.now() + deadlineMs;
  let delay = 5;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 100);
  }
}

/** Starts the demo server and resolves with its URL once /readyz answers. */
async function startPoigate(apiKey, dataDir) {
  const bin = process.env.POIGATE_BIN ?? "../../target/debug/poigate";
  const child = spawn(
    bin,
    ["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--sim-speed", "0"],
    {
      env: { ...process.env, POIGATE_DEMO_API_KEY: apiKey, POIGATE_LOG: "warn" },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const url = await eventually("the demo banner", async () => {
    if (child.exitCode !== null) throw new Error(`poigate exited (${child.exitCode}): ${output}`);
    return output.match(/URL\s+(http:\/\/\S+)/)?.[1];
  });
  await eventually("/readyz", async () => {
    try {
      return (await fetch(`${url}/readyz`)).ok;
    } catch {
      return false;
    }
  });
  return { url, child, exited };
}

/**
 * The injected HTTP client: the library's `ClientInterface`, sending what the library
 * serialised to poigate instead of Adyen, and handing back the body for the library to
 * deserialise. Non-2xx answers reject, as the library's own client does.
 */
class PoigateHttpClient {
  constructor(base) {
    this.base = base;
  }

  async request(endpoint, json, config, isApiKeyRequired) {
    if (isApiKeyRequired && !config.apiKey) throw new Error("an API key is required");
    const url = endpoint.replace(ADYEN_TEST_ENDPOINT, `${this.base}/adyen`);
    assert.notEqual(url, endpoint, `unexpected endpoint ${endpoint}`);
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": config.apiKey },
      body: json,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${text}`);
    return text;
  }
}

/** A webhook receiver acknowledging as Adyen expects: `[accepted]`. */
async function startNotifications() {
  const received = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      received.push(JSON.parse(body));
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("[accepted]");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/notifications`, received, server };
}

/** A native API call: the merchant's setup and the simulated cardholder, not the POS. */
async function native(base, apiKey, path, body) {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(response.ok, `${path}: HTTP ${response.status} ${await response.text()}`);
}

const header = (category, serviceId) => ({
  ProtocolVersion: "3.0",
  MessageClass: "Service",
  MessageCategory: category,
  MessageType: "Request",
  SaleID: SALE_ID,
  ServiceID: serviceId,
  POIID,
});

const paymentRequest = (serviceId, amount) => ({
  SaleToPOIRequest: {
    MessageHeader: header("Payment", serviceId),
    PaymentRequest: {
      SaleData: {
        SaleTransactionID: { TransactionID: `order-${serviceId}`, TimeStamp: new Date().toISOString() },
        SaleToAcquirerData: { metadata: { till: "3" } },
      },
      PaymentTransaction: { AmountsReq: { Currency: "EUR", RequestedAmount: amount } },
    },
  },
});

const statusRequest = (serviceId, reference) => ({
  SaleToPOIRequest: {
    MessageHeader: header("TransactionStatus", serviceId),
    TransactionStatusRequest: {
      ReceiptReprintFlag: true,
      DocumentQualifier: ["CashierReceipt", "CustomerReceipt"],
      MessageReference: { SaleID: SALE_ID, ServiceID: reference, MessageCategory: "Payment" },
    },
  },
});

const abortRequest = (serviceId, reference) => ({
  SaleToPOIRequest: {
    MessageHeader: header("Abort", serviceId),
    AbortRequest: {
      AbortReason: "MerchantAbort",
      MessageReference: { SaleID: SALE_ID, ServiceID: reference, MessageCategory: "Payment" },
    },
  },
});

async function run(base, apiKey) {
  const notifications = await startNotifications();
  try {
    const client = new Client(
      new Config({ apiKey, environment: EnvironmentEnum.TEST }),
      new PoigateHttpClient(base),
    );
    const terminal = new TerminalCloudAPI(client);
    const run = randomBytes(3).toString("hex");

    // 1. A payment, synchronous.
    const paid = await terminal.sync(paymentRequest(`p${run}`, 10.99));
    const payment = paid.SaleToPOIResponse.PaymentResponse;
    assert.equal(payment.Response.Result, "Success", JSON.stringify(payment.Response));
    assert.equal(payment.PaymentResult.AmountsResp.AuthorizedAmount, 10.99);
    assert.equal(payment.PaymentResult.AmountsResp.Currency, "EUR");
    assert.equal(paid.SaleToPOIResponse.MessageHeader.ServiceID, `p${run}`);
    assert.match(payment.Response.AdditionalResponse, /pspReference=txn_/);
    assert.deepEqual(
      payment.PaymentReceipt.map((r) => r.DocumentQualifier),
      ["CashierReceipt", "CustomerReceipt"],
    );
    console.log(`ok - sync payment ${payment.POIData.POITransactionID.TransactionID}`);

    // 2. A decline: Adyen's test amount ending in 124.
    const declined = await terminal.sync(paymentRequest(`d${run}`, 11.24));
    const refusal = declined.SaleToPOIResponse.PaymentResponse.Response;
    assert.equal(refusal.Result, "Failure");
    assert.equal(refusal.ErrorCondition, "Refusal");
    assert.match(refusal.AdditionalResponse, /refusalReason=Not%20enough%20balance/);
    console.log("ok - decline with ErrorCondition Refusal");

    // 3. The status of the payment, as after a lost response.
    const status = await terminal.sync(statusRequest(`s${run}`, `p${run}`));
    const statusResponse = status.SaleToPOIResponse.TransactionStatusResponse;
    assert.equal(statusResponse.Response.Result, "Success", JSON.stringify(statusResponse));
    const repeated = statusResponse.RepeatedMessageResponse.RepeatedResponseMessageBody.PaymentResponse;
    assert.equal(repeated.Response.Result, "Success");
    assert.deepEqual(repeated.POIData, payment.POIData);
    assert.equal(statusResponse.RepeatedMessageResponse.MessageHeader.ServiceID, `p${run}`);
    console.log("ok - transaction status repeats the payment response");

    // 4. An async payment, aborted while the shopper has not presented a card; its result
    //    arrives as an event notification.
    await native(base, apiKey, "/v1/webhook-endpoints", {
      url: notifications.url,
      events: ["interaction.completed"],
      format: "adyen",
    });
    await native(base, apiKey, `/v1/test-helpers/terminals/${POIID}/hold`);
    const accepted = await terminal.async(paymentRequest(`a${run}`, 25.0));
    assert.equal(accepted, "ok");
    await eventually("the payment to be in progress", async () => {
      const s = await terminal.sync(statusRequest(`i${randomBytes(3).toString("hex")}`, `a${run}`));
      return s.SaleToPOIResponse.TransactionStatusResponse.Response.ErrorCondition === "InProgress";
    });
    const aborted = await terminal.sync(abortRequest(`x${run}`, `a${run}`));
    assert.equal(aborted.SaleToPOIResponse, undefined, "an abort has no response message");
    const notification = await eventually("the event notification", async () =>
      notifications.received.find(
        (n) => n.SaleToPOIResponse?.MessageHeader?.ServiceID === `a${run}`,
      ),
    );
    const event = Types.terminal.ObjectSerializer.deserialize(notification, "TerminalApiResponse");
    const result = event.SaleToPOIResponse.PaymentResponse.Response;
    assert.equal(result.Result, "Failure");
    assert.equal(result.ErrorCondition, "Aborted");
    const after = await terminal.sync(statusRequest(`t${run}`, `a${run}`));
    assert.equal(
      after.SaleToPOIResponse.TransactionStatusResponse.RepeatedMessageResponse
        .RepeatedResponseMessageBody.PaymentResponse.Response.ErrorCondition,
      "Aborted",
    );
    console.log("ok - async payment aborted, result delivered as an event notification");
  } finally {
    notifications.server.close();
  }
}

const dataDir = mkdtempSync(join(tmpdir(), "poigate-adyen-node-"));
const apiKey = `pg_test_${randomBytes(24).toString("hex")}`;
let server;
let failed = false;
try {
  server = await startPoigate(apiKey, dataDir);
  await run(server.url, apiKey);
  console.log("Adyen Node library: all checks passed");
} catch (error) {
  failed = true;
  console.error("Adyen Node library test failed:", error);
} finally {
  if (server) {
    server.child.kill("SIGINT");
    await Promise.race([server.exited, new Promise((r) => setTimeout(r, 5000))]);
    if (server.child.exitCode === null) server.child.kill("SIGKILL");
  }
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
