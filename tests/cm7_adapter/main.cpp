// Nothing here names the delegate: whether MCUFormerBackend registers is up to how mcuformer_backend is linked.
int main() { return 0; }
