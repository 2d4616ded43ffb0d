"""Our own W3C WebSub hub, above the delivery engine: requests (subscribe, unsubscribe) and distribution."""
