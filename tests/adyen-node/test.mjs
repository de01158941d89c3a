// Adyen's official Node library against a local poigate over HTTPS, as a POS would use it:
// TerminalCloudAPI (sync and async), CloudDeviceAPI (device sync/async, connected devices,
// device status) and the Checkout ModificationsApi (capture of a pre-authorisation), with the
// library's own default HTTP client (HTTPS only), serializer and deserializer. The only change
// from an integration against Adyen is the base URL: each Adyen host maps to poigate's
// `/adyen` prefix.
//
// Run by .ci/run. The parent process starts `poigate serve --demo --tls-self-signed` on a
// free port in a temporary data directory (POIGATE_BIN names the binary), waits until it is
// ready (polling, no sleeps), and runs this file again as a child with NODE_EXTRA_CA_CERTS
// naming the certificate poigate wrote (Node reads it at start-up only). The child runs the
// checks; exit code non-zero on the first failure.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { strict as assert } from "node:assert";
import adyen from "@adyen/api-library";

const { CheckoutAPI, Client, CloudDeviceAPI, Config, EnvironmentEnum, TerminalCloudAPI, Types } =
  adyen;
const DEADLINE_MS = 30_000;
const POIID = "V400m-324688179"; // a demo terminal
const SALE_ID = "NodePOS1";
const MERCHANT_ACCOUNT = "Demo Merchant"; // the demo's merchant

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

/** Starts the demo server over HTTPS; resolves with its URL and certificate once ready. */
async function startPoigate(apiKey, dataDir) {
  const bin = process.env.POIGATE_BIN ?? "../../target/debug/poigate";
  const child = spawn(
    bin,
    [
      "serve", "--demo", "--tls-self-signed", "--listen", "127.0.0.1:0", "--data-dir", dataDir,
      "--sim-speed", "0", "--metrics-listen", "127.0.0.1:0",
    ],
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
  const [url, cert] = await eventually("the demo banner", async () => {
    if (child.exitCode !== null) throw new Error(`poigate exited (${child.exitCode}): ${output}`);
    const url = output.match(/URL\s+(https:\/\/\S+)/)?.[1];
    const cert = output.match(/TLS cert\s+(\S+)/)?.[1];
    return url && cert ? [url, cert] : undefined;
  });
  return { url, cert, child, exited };
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

const preAuthRequest = (serviceId, amount) => {
  const request = paymentRequest(serviceId, amount);
  // The library's SaleToAcquirerData object, sent Base64-encoded JSON.
  request.SaleToPOIRequest.PaymentRequest.SaleData.SaleToAcquirerData = {
    additionalData: { authorisationType: "PreAuth" },
  };
  return request;
};

/** The value of `key` in a form-encoded AdditionalResponse. */
const additional = (text, key) => new URLSearchParams(text ?? "").get(key);

async function run(base, apiKey) {
  await eventually("/readyz", async () => {
    try {
      return (await fetch(`${base}/readyz`)).ok;
    } catch {
      return false;
    }
  });
  const notifications = await startNotifications();
  try {
    // The library's default HTTP client (HTTPS only), pointed at poigate: each Adyen host
    // becomes `${base}/adyen`.
    const client = new Client(new Config({ apiKey, environment: EnvironmentEnum.TEST }));
    client.config.terminalApiCloudEndpoint = `${base}/adyen`;
    const terminal = new TerminalCloudAPI(client);
    const devices = new CloudDeviceAPI(client).CloudDeviceApi;
    devices.baseUrl = `${base}/adyen/v1`;
    const modifications = new CheckoutAPI(client).ModificationsApi;
    modifications.baseUrl = `${base}/adyen/v72`;
    const run = randomBytes(3).toString("hex");

    // 1. A payment, synchronous.
    const paid = await terminal.sync(paymentRequest(`p${run}`, 10.99));
    const payment = paid.SaleToPOIResponse.PaymentResponse;
    assert.equal(payment.Response.Result, "Success", JSON.stringify(payment.Response));
    assert.equal(payment.PaymentResult.AmountsResp.AuthorizedAmount, 10.99);
    assert.equal(payment.PaymentResult.AmountsResp.Currency, "EUR");
    assert.equal(paid.SaleToPOIResponse.MessageHeader.ServiceID, `p${run}`);
    assert.match(additional(payment.Response.AdditionalResponse, "pspReference"), /^[0-9A-Z]{16}$/);
    assert.deepEqual(
      payment.PaymentReceipt.map((r) => r.DocumentQualifier),
      ["CashierReceipt", "CustomerReceipt"],
    );
    console.log(`ok - sync payment ${payment.POIData.POITransactionID.TransactionID} over HTTPS`);

    // 2. Declines: Adyen's test amounts ending in 124 and 128, with the acquirer's code.
    const declined = await terminal.sync(paymentRequest(`d${run}`, 11.24));
    const refusal = declined.SaleToPOIResponse.PaymentResponse.Response;
    assert.equal(refusal.Result, "Failure");
    assert.equal(refusal.ErrorCondition, "Refusal");
    assert.equal(additional(refusal.AdditionalResponse, "refusalReason"), "210 Not enough balance");
    const invalid = await terminal.sync(paymentRequest(`v${run}`, 1.28));
    assert.equal(invalid.SaleToPOIResponse.PaymentResponse.Response.ErrorCondition, "InvalidCard");
    console.log("ok - declines: Refusal 210 Not enough balance, InvalidCard");

    // 3. The status of the payment, as after a lost response.
    const status = await terminal.sync(statusRequest(`s${run}`, `p${run}`));
    const statusResponse = status.SaleToPOIResponse.TransactionStatusResponse;
    assert.equal(statusResponse.Response.Result, "Success", JSON.stringify(statusResponse));
    const repeated = statusResponse.RepeatedMessageResponse.RepeatedResponseMessageBody.PaymentResponse;
    assert.equal(repeated.Response.Result, "Success");
    assert.deepEqual(repeated.POIData, payment.POIData);
    assert.equal(statusResponse.RepeatedMessageResponse.MessageHeader.ServiceID, `p${run}`);
    console.log("ok - transaction status repeats the payment response");

    // 4. A pre-authorisation, captured later through the Checkout API by its pspReference.
    const pre = await terminal.sync(preAuthRequest(`h${run}`, 80.0));
    const preResponse = pre.SaleToPOIResponse.PaymentResponse.Response;
    assert.equal(preResponse.Result, "Success", JSON.stringify(preResponse));
    assert.equal(additional(preResponse.AdditionalResponse, "authorisationType"), "PreAuth");
    const prePsp = additional(preResponse.AdditionalResponse, "pspReference");
    const captured = await modifications.captureAuthorisedPayment(prePsp, {
      merchantAccount: MERCHANT_ACCOUNT,
      reference: `checkout-${run}`,
      amount: { value: 6550, currency: "EUR" },
    });
    assert.equal(captured.status, "received");
    assert.equal(captured.paymentPspReference, prePsp);
    assert.match(captured.pspReference, /^[0-9A-Z]{16}$/);
    console.log(`ok - pre-authorisation ${prePsp} captured through the Checkout API`);

    // 5. The Cloud Device API: the same payment addressed to the device, and the devices.
    const connected = await devices.getConnectedDevices(MERCHANT_ACCOUNT);
    assert.ok(connected.uniqueDeviceIds.includes(POIID), JSON.stringify(connected));
    const deviceStatus = await devices.getDeviceStatus(MERCHANT_ACCOUNT, POIID);
    assert.equal(deviceStatus.status, "ONLINE");
    assert.equal(deviceStatus.deviceId, POIID);
    const viaDevice = await devices.sync(MERCHANT_ACCOUNT, POIID, paymentRequest(`c${run}`, 4.5));
    assert.equal(viaDevice.SaleToPOIResponse.PaymentResponse.Response.Result, "Success");
    const viaDeviceAsync = await devices.async(
      MERCHANT_ACCOUNT,
      POIID,
      paymentRequest(`e${run}`, 5.5),
    );
    assert.equal(viaDeviceAsync.Result, "ok");
    await eventually("the device's async payment", async () => {
      const s = await devices.sync(
        MERCHANT_ACCOUNT,
        POIID,
        statusRequest(`f${randomBytes(3).toString("hex")}`, `e${run}`),
      );
      return s.SaleToPOIResponse.TransactionStatusResponse.Response.Result === "Success";
    });
    console.log("ok - CloudDeviceAPI: connected devices, status, sync and async payments");

    // 6. An async payment, aborted while the shopper has not presented a card; its result
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

/** Runs this file again with `env` added; resolves with its exit code. */
function child(env) {
  const me = fileURLToPath(import.meta.url);
  const proc = spawn(process.execPath, [me], {
    env: { ...process.env, ...env },
    stdio: "inherit",
  });
  return new Promise((resolve) => proc.on("exit", (code) => resolve(code ?? 1)));
}

if (process.env.POIGATE_ADYEN_NODE_CHILD) {
  let failed = false;
  try {
    await run(process.env.POIGATE_URL, process.env.POIGATE_API_KEY);
    console.log("Adyen Node library: all checks passed");
  } catch (error) {
    failed = true;
    console.error("Adyen Node library test failed:", error);
  }
  process.exit(failed ? 1 : 0);
} else {
  const dataDir = mkdtempSync(join(tmpdir(), "poigate-adyen-node-"));
  const apiKey = `pg_test_${randomBytes(24).toString("hex")}`;
  let server;
  let code = 1;
  try {
    server = await startPoigate(apiKey, dataDir);
    console.log(`poigate at ${server.url}, trusting ${server.cert}`);
    code = await child({
      POIGATE_ADYEN_NODE_CHILD: "1",
      POIGATE_URL: server.url,
      POIGATE_API_KEY: apiKey,
      NODE_EXTRA_CA_CERTS: server.cert,
    });
  } catch (error) {
    console.error("Adyen Node library test failed:", error);
  } finally {
    if (server) {
      server.child.kill("SIGINT");
      await Promise.race([server.exited, new Promise((r) => setTimeout(r, 5000))]);
      if (server.child.exitCode === null) server.child.kill("SIGKILL");
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.exit(code);
}
