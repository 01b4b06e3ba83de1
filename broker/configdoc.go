package broker

// ConfigDoc describes one config key for documentation (README's tables).
type ConfigDoc struct {
	Name string
	// Default is a topic config's default: the broker key that supplies
	// it, else its fixed value.
	Default   string
	BrokerKey string
	Doc       string
}

// TopicConfigDocs lists every topic config kafkad accepts, by name.
func TopicConfigDocs() []ConfigDoc {
	def := DefaultConfig()
	out := make([]ConfigDoc, 0, len(topicConfigs))
	for _, tc := range topicConfigs {
		d := ConfigDoc{Name: tc.name, BrokerKey: tc.brokerKey, Doc: tc.doc}
		if tc.brokerKey == "" {
			d.Default = tc.def(&def)
		}
		out = append(out, d)
	}
	return out
}

// IsDynamicBrokerConfig tells whether a broker key can be changed at run
// time (IncrementalAlterConfigs on a BROKER resource, kafka-configs.sh
// --entity-type brokers), per broker and cluster-wide.
func IsDynamicBrokerConfig(name string) bool {
	_, ok := dynamicKeys[name]
	return ok
}
