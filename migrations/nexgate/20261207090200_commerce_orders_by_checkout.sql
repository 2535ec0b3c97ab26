-- A checkout finds its orders by `checkout_id` (giving them their payables, answering the buyer):
-- without this index each checkout scanned every order (found by the checkout benchmark's profile,
-- bench/README.md).
CREATE INDEX orders_checkout_idx ON commerce.orders (checkout_id);
